# The man pages (docs/man): section 8 for the daemon, mkfs, fsck and the
# unmount helper, section 1 for eiocbctl.
file(GLOB _man8 ${PROJECT_SOURCE_DIR}/docs/man/*.8)
file(GLOB _man1 ${PROJECT_SOURCE_DIR}/docs/man/*.1)
install(FILES ${_man8} DESTINATION share/man/man8)
install(FILES ${_man1} DESTINATION share/man/man1)
