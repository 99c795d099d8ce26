/**
 * Bounds on what a guest (or a host console client) can make a domain hold, in one place
 * (docs/security.md lists them with the device and daemon limits).
 */

/**
 * Host console input the SBI console (legacy getchar, DBCN read) keeps until the guest reads it;
 * beyond this it is dropped, as the UART's FIFO and the virtio console drop it.
 */
export const SBI_INPUT_MAX = 64 * 1024;
