/* PVX back ends (docs/para-api-pvx.md). */
#include "kernel.h"
#include "pvx.h"

unsigned long pvx_version, pvx_features, pvx_domid;
static int present;

int pvx_present(void) { return present; }

int pvx_init(void) { return -1; }

const struct pv_ops pvx_ops;

void pvx_shell_evtchn(int argc, char **argv) { (void)argc, (void)argv; }
void pvx_shell_grant(int argc, char **argv) { (void)argc, (void)argv; }
