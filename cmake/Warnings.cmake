# Compiler flags shared by every target: warnings, and the sanitizer build.
add_compile_options(-Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes
                    -Wmissing-prototypes -Wno-unused-parameter)
# Messages are cut to fixed buffers on purpose (status messages, diagnostics);
# gcc's guess that a %s "may be truncated" is not a defect here.
if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
  add_compile_options(-Wno-format-truncation)
endif()
if(PGML_WERROR)
  add_compile_options(-Werror)
endif()
if(PGML_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Generated sources are not ours to warn about.
function(pgml_generated_sources)
  set_source_files_properties(${ARGN} PROPERTIES COMPILE_OPTIONS
    "-Wno-missing-prototypes;-Wno-strict-prototypes;-Wno-shadow;-Wno-unused-parameter;-Wno-error")
endfunction()
