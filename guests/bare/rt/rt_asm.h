/* Constants shared by the runtime's assembly and C. */
#define RT_MAGIC 0x7e7ab1e
/* Stack size of each secondary hart, and how many there can be. */
#define RT_SEC_STACK 8192
#define RT_MAX_SEC_HARTS 7
