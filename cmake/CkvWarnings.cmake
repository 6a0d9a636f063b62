# CkvWarnings.cmake: one interface target that carries ckv's warning flags,
# linked PRIVATE by every ckv target so that the flags never leak to users.
add_library(ckv_warnings INTERFACE)
target_compile_options(ckv_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
  -Wvla -Wno-unused-parameter)
if(CKV_WERROR)
  target_compile_options(ckv_warnings INTERFACE -Werror)
endif()
target_compile_definitions(ckv_warnings INTERFACE _POSIX_C_SOURCE=200809L _DEFAULT_SOURCE)
