/* commands.c - the table of pgmlctl's commands and their options: what
 * --help, the parser and shell completion all read. */
#include "pgmlctl.h"

static const pgmlctl_opt_t no_opts[] = {{NULL, 0, 0, NULL, NULL, NULL}};

static const pgmlctl_opt_t ping_opts[] = {
  {"count", 'c', PGMLCTL_OPT_VALUE, "N", NULL, "send N pings, one after the other (default 1)"},
  {"data", 0, PGMLCTL_OPT_VALUE, "TEXT", NULL, "payload echoed back (default \"pgmlctl\")"},
  {NULL, 0, 0, NULL, NULL, NULL},
};

static const pgmlctl_opt_t list_collections_opts[] = {
  {"all", 0, PGMLCTL_OPT_FLAG, NULL, NULL, "include archived collections"},
  {NULL, 0, 0, NULL, NULL, NULL},
};

static const pgmlctl_opt_t drop_opts[] = {
  {"yes", 'y', PGMLCTL_OPT_FLAG, NULL, NULL,
   "really delete the collection and every document in it (required)"},
  {NULL, 0, 0, NULL, NULL, NULL},
};

static const pgmlctl_opt_t add_pipeline_opts[] = {
  {"splitter", 0, PGMLCTL_OPT_VALUE, "NAME", "recursive_character|character|markdown",
   "how documents are cut into chunks (default recursive_character)"},
  {"chunk-size", 0, PGMLCTL_OPT_VALUE, "N", NULL, "largest chunk in characters (default 1000)"},
  {"chunk-overlap", 0, PGMLCTL_OPT_VALUE, "N", NULL,
   "characters shared by neighbouring chunks (default 0)"},
  {"separator", 0, PGMLCTL_OPT_LIST, "TEXT", NULL,
   "splitter separator, tried in order; \\n and \\t are understood"},
  {"model", 0, PGMLCTL_OPT_VALUE, "NAME", "builtin/lexical|client",
   "embedding model (default builtin/lexical)"},
  {"dimensions", 0, PGMLCTL_OPT_VALUE, "N", NULL,
   "vector dimensions (builtin/lexical: default 384; client: required)"},
  {"hnsw-m", 0, PGMLCTL_OPT_VALUE, "N", NULL, "HNSW m (default 16)"},
  {"hnsw-ef-construction", 0, PGMLCTL_OPT_VALUE, "N", NULL,
   "HNSW ef_construction (default 64)"},
  {"fulltext", 0, PGMLCTL_OPT_VALUE, "CONFIG", NULL,
   "PostgreSQL text search config such as english; none if not given"},
  {"text-field", 0, PGMLCTL_OPT_VALUE, "FIELD", NULL,
   "document field holding the text (default text)"},
  {NULL, 0, 0, NULL, NULL, NULL},
};

static const pgmlctl_opt_t upsert_opts[] = {
  {"batch-size", 'b', PGMLCTL_OPT_VALUE, "N", NULL,
   "documents per UpsertDocuments call (default 100, at most 10000)"},
  {"merge", 0, PGMLCTL_OPT_FLAG, NULL, NULL,
   "merge the new metadata into stored documents instead of replacing them"},
  {"no-progress", 0, PGMLCTL_OPT_FLAG, NULL, NULL,
   "no progress bar even on a terminal"},
  {NULL, 0, 0, NULL, NULL, NULL},
};

static const pgmlctl_opt_t search_opts[] = {
  {"mode", 'm', PGMLCTL_OPT_VALUE, "MODE", "vector|text|hybrid",
   "vector (default), text (full-text) or hybrid"},
  {"top-k", 'k', PGMLCTL_OPT_VALUE, "N", NULL, "results wanted (default the server's, 10)"},
  {"filter", 'f', PGMLCTL_OPT_VALUE, "JSON", NULL,
   "MongoDB-style metadata filter, e.g. '{\"year\": {\"$gte\": 2020}}'"},
  {"pipeline", 'p', PGMLCTL_OPT_VALUE, "NAME", NULL,
   "pipeline to search (default the collection's only enabled one)"},
  {"vector", 0, PGMLCTL_OPT_VALUE, "JSON", NULL,
   "search with this vector, a JSON array of numbers, instead of QUERY "
   "(vector and hybrid)"},
  {"ef-search", 0, PGMLCTL_OPT_VALUE, "N", NULL, "HNSW ef_search (vector and hybrid)"},
  {"exact", 0, PGMLCTL_OPT_FLAG, NULL, NULL,
   "exact nearest neighbours, scanning every chunk (vector)"},
  {"semantic-weight", 0, PGMLCTL_OPT_VALUE, "W", NULL, "weight of the vector score (hybrid)"},
  {"keyword-weight", 0, PGMLCTL_OPT_VALUE, "W", NULL, "weight of the text score (hybrid)"},
  {NULL, 0, 0, NULL, NULL, NULL},
};

const pgmlctl_command_t pgmlctl_commands[] = {
  {NULL, "ping", "", "check that pgmld answers, and how fast",
   "Sends Ping, which costs pgmld no database work, and prints the round\n"
   "trip.  Exits 0 when every ping was answered: usable as a health check.",
   ping_opts, 0, 0, pgmlctl_cmd_ping},
  {NULL, "info", "", "show pgmld's version, uptime, features and pool",
   NULL, no_opts, 0, 0, pgmlctl_cmd_info},
  {"collections", "list", "", "list collections, oldest first",
   NULL, list_collections_opts, 0, 0, pgmlctl_cmd_collections_list},
  {"collections", "create", "NAME", "create a collection (or show the existing one)",
   "NAME has 1 to 63 characters: letters, digits, '_' and '-'.",
   no_opts, 1, 1, pgmlctl_cmd_collections_create},
  {"collections", "exists", "NAME", "exit 0 when an active collection has NAME, 15 when not",
   NULL, no_opts, 1, 1, pgmlctl_cmd_collections_exists},
  {"collections", "archive", "NAME", "archive a collection: keep its data, free its name",
   NULL, no_opts, 1, 1, pgmlctl_cmd_collections_archive},
  {"collections", "drop", "NAME", "delete a collection and everything in it",
   NULL, drop_opts, 1, 1, pgmlctl_cmd_collections_drop},
  {"pipelines", "add", "COLLECTION NAME", "add a pipeline and process existing documents",
   "A collection with no pipeline gets the pipeline \"default\" when documents\n"
   "are first upserted into it; add one first to choose other settings.",
   add_pipeline_opts, 2, 2, pgmlctl_cmd_pipelines_add},
  {"pipelines", "list", "COLLECTION", "list a collection's pipelines",
   NULL, no_opts, 1, 1, pgmlctl_cmd_pipelines_list},
  {"pipelines", "status", "COLLECTION NAME", "documents and chunks embedded and pending",
   NULL, no_opts, 2, 2, pgmlctl_cmd_pipelines_status},
  {"pipelines", "enable", "COLLECTION NAME", "enable a pipeline (it catches up)",
   NULL, no_opts, 2, 2, pgmlctl_cmd_pipelines_enable},
  {"pipelines", "disable", "COLLECTION NAME", "disable a pipeline",
   NULL, no_opts, 2, 2, pgmlctl_cmd_pipelines_disable},
  {"pipelines", "remove", "COLLECTION NAME", "remove a pipeline with its chunks and index",
   NULL, no_opts, 2, 2, pgmlctl_cmd_pipelines_remove},
  {NULL, "upsert", "COLLECTION [FILE...]", "insert or replace documents from JSON Lines",
   "Reads one JSON object per line, each with a string \"id\", from the FILEs\n"
   "(or standard input when there is none, or for \"-\"), and sends them in\n"
   "batches.  Blank lines are skipped.  A line that is not such an object\n"
   "stops the load before anything after it is sent, naming file and line.\n"
   "On a terminal a progress bar shows on stderr; a summary follows.",
   upsert_opts, 1, PGMLCTL_MAX_OPERANDS, pgmlctl_cmd_upsert},
  {NULL, "search", "COLLECTION [QUERY]", "vector, full-text or hybrid search",
   "Prints a table on a terminal, tab-separated lines otherwise (score,\n"
   "document id, chunk index, chunk), or with --json one JSON array of\n"
   "{score, document_id, chunk_index, chunk, metadata}.",
   search_opts, 1, 2, pgmlctl_cmd_search},
};

const unsigned pgmlctl_n_commands = sizeof(pgmlctl_commands) / sizeof(pgmlctl_commands[0]);
