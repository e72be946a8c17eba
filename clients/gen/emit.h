/* emit.h - the emitters: one per generated language, each reading the model.
 *
 * Each writes its files under `outdir` (creating directories) and returns 0,
 * or a negative errno after reporting the file that could not be written.
 * The model is only read; each emitter's temporary names live in an arena
 * of its own.
 *
 *   pgml_gen_emit_c      c/include/pgml/<service>.h, c/<service>.c
 *   pgml_gen_emit_table  python/pgml_python_table.c, node/pgml_node_table.c
 *   pgml_gen_emit_pyi    python/pgml/__init__.pyi
 *   pgml_gen_emit_dts    node/index.d.ts
 */
#ifndef PGML_GEN_EMIT_H
#define PGML_GEN_EMIT_H

#include "diag.h"
#include "lang.h"
#include "model.h"

PGML_GEN_MUST_CHECK int pgml_gen_emit_c(const pgml_gen_model_t *m,
                                        const char *outdir, pgml_gen_diag_t *d);
PGML_GEN_MUST_CHECK int pgml_gen_emit_table(const pgml_gen_model_t *m,
                                            pgml_gen_lang_t lang,
                                            const char *outdir,
                                            pgml_gen_diag_t *d);
PGML_GEN_MUST_CHECK int pgml_gen_emit_pyi(const pgml_gen_model_t *m,
                                          const char *outdir, pgml_gen_diag_t *d);
PGML_GEN_MUST_CHECK int pgml_gen_emit_dts(const pgml_gen_model_t *m,
                                          const char *outdir, pgml_gen_diag_t *d);

#endif
