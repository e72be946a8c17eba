# Finds every dependency in the system's packages.  Nothing is vendored or
# downloaded: scripts/bootstrap.sh installs the Debian packages named here.
find_package(PkgConfig REQUIRED)

pkg_check_modules(LIBUV     REQUIRED IMPORTED_TARGET libuv>=1.44)
pkg_check_modules(LIBPQ     REQUIRED IMPORTED_TARGET libpq>=14)
pkg_check_modules(PROTOBUFC REQUIRED IMPORTED_TARGET libprotobuf-c>=1.4)
pkg_check_modules(JANSSON   REQUIRED IMPORTED_TARGET jansson>=2.13)
pkg_check_modules(INIH      REQUIRED IMPORTED_TARGET inih)
pkg_check_modules(XXHASH    REQUIRED IMPORTED_TARGET libxxhash)
find_package(nanopb CONFIG REQUIRED)
find_package(libwebsockets CONFIG REQUIRED)

find_program(PROTOC        protoc REQUIRED)
find_program(PROTOC_C      protoc-c REQUIRED)
find_program(PROTOC_NANOPB protoc-gen-nanopb REQUIRED)

# Well-known .proto files (descriptor.proto) that protoc ships.
find_path(PROTOBUF_PROTO_DIR google/protobuf/descriptor.proto
          PATHS /usr/include /usr/local/include REQUIRED)

if(BUILD_TESTING)
  pkg_check_modules(CMOCKA REQUIRED IMPORTED_TARGET cmocka>=1.1)
endif()

# Debian builds libprotobuf-nanopb with PB_ENABLE_MALLOC (pb_release is
# exported); our sources must see the same configuration in pb.h.
set(PGML_NANOPB_DEFINITIONS PB_ENABLE_MALLOC=1)
