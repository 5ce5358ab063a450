#include "api_util.h"
#include "api_decl.h"
#include <R_ext/Rdynload.h>
#include <R_ext/Visibility.h>

static const R_CallMethodDef call_methods[] = {
  CP_CALL_ENTRIES
  {NULL, NULL, 0}
};

void attribute_visible R_init_cphap(DllInfo *dll) {
  R_registerRoutines(dll, NULL, call_methods, NULL, NULL);
  R_useDynamicSymbols(dll, FALSE);
  R_forceSymbols(dll, TRUE);
  cp_api_install_interrupt();
}
