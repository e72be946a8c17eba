# Writes the package's ESM entry (build/Release/index.mjs) from the
# generated index.d.ts: one named export per class the .d.ts declares
# (Database, the bound classes, the error classes), so that no name from the
# .proto is written by hand.  Usage: cmake -DDTS=... -DOUT=... -P gen_esm.cmake
file(STRINGS ${DTS} lines REGEX "^export class [A-Za-z_][A-Za-z0-9_]*")
set(names "")
foreach(line ${lines})
  string(REGEX REPLACE "^export class ([A-Za-z_][A-Za-z0-9_]*).*" "\\1" name "${line}")
  list(APPEND names ${name})
endforeach()
list(REMOVE_DUPLICATES names)
string(REPLACE ";" ", " joined "${names}")
file(WRITE ${OUT}.tmp
"// index.mjs - the ESM entry of the pgml package.  Generated from index.d.ts\n"
"// by clients/node/cmake/gen_esm.cmake: do not edit.\n"
"import { createRequire } from 'node:module';\n"
"const pgml = createRequire(import.meta.url)('../../index.js');\n"
"export default pgml;\n"
"export const { ${joined}, Error } = pgml;\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
file(REMOVE ${OUT}.tmp)
