/* Constants shared by the runtime's assembly and C. */
#define RT_MAGIC 0x7e7ab1e
