# CPack settings for the .deb (docs/operations.md, "The .deb").  Included
# at the end of the top-level CMakeLists.txt.  Build it from a tree
# configured for the system layout:
#
#   cmake -S . -B build-deb -G Ninja -DCMAKE_INSTALL_PREFIX=/usr -DBUILD_TESTING=OFF
#   ninja -C build-deb && (cd build-deb && cpack -G DEB)
#
# The package holds pgmld, pgmlctl, libpgml (with headers, pkg-config and
# CMake files), the systemd units, /etc/pgmld/pgmld.conf (a conffile), the
# man pages and the bash completion.  Its maintainer scripts create the
# system user pgmld and enable pgmld.service.
set(CPACK_PACKAGE_NAME pgmld)
set(CPACK_PACKAGE_VENDOR "pgmld")
set(CPACK_PACKAGE_CONTACT "pgmld maintainers <pgmld@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
# /etc/pgmld/pgmld.conf is installed by an absolute path.
set(CPACK_SET_DESTDIR ON)
# Only the components a system install wants, not the language bindings'
# (installed with pip and npm).
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};Unspecified;/")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# dpkg-shlibdeps sees libwebsockets17, not the libuv event-loop plugin it
# dlopen()s: without libwebsockets-evlib-uv, pgmld with http.listen or
# websocket.listen set fails to start ("unable to load evlib plugin
# evlib_uv"; found under a real systemd by scripts/vm-check.sh).
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, libwebsockets-evlib-uv")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-16-pgvector | postgresql-17-pgvector")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "pgmld is a C daemon that owns a pool of PostgreSQL connections and serves\ncollection, document and vector/full-text/hybrid search calls over a Unix\nsocket.  pgmlctl is its command-line tool.")
# The config file is a conffile: an upgrade keeps the operator's edits.
file(WRITE ${CMAKE_BINARY_DIR}/deb/conffiles "${CMAKE_INSTALL_FULL_SYSCONFDIR}/pgmld/pgmld.conf\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/deb/conffiles
    ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm
    ${CMAKE_CURRENT_LIST_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
