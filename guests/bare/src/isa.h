/* Helpers to run one instruction on given operands and check its result. */
#pragma once
#include "rt.h"

/* rd = insn rs1, rs2 */
#define T_RR(insn, a, b, want)                                                          \
  do {                                                                                  \
    uint64_t r_, a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                \
    __asm__ volatile(insn " %0, %1, %2" : "=r"(r_) : "r"(a_), "r"(b_));                 \
    check_eq(insn " " #a ", " #b, r_, (uint64_t)(want));                                \
  } while (0)

/* rd = insn rs1, imm */
#define T_RI(insn, a, imm, want)                                                        \
  do {                                                                                  \
    uint64_t r_, a_ = (uint64_t)(a);                                                    \
    __asm__ volatile(insn " %0, %1, " #imm : "=r"(r_) : "r"(a_));                       \
    check_eq(insn " " #a ", " #imm, r_, (uint64_t)(want));                              \
  } while (0)

/* Branch: records 1 if taken. */
#define T_BR(insn, a, b, want)                                                          \
  do {                                                                                  \
    uint64_t t_, a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                \
    __asm__ volatile("li %0, 1\n" insn " %1, %2, 1f\nli %0, 0\n1:" : "=&r"(t_) : "r"(a_), "r"(b_)); \
    check_eq(insn " " #a ", " #b, t_, (uint64_t)(want));                       \
  } while (0)
