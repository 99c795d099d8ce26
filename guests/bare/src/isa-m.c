/* RV64M: multiply and divide, including division by zero and signed overflow (ISA spec 13.2). */
#include "isa.h"

#define MIN64 0x8000000000000000
#define MIN32W 0xffffffff80000000

int main(void) {
  T_RR("mul", 7, -3, -21);
  T_RR("mul", 0x100000001, 0x100000001, 0x200000001);
  T_RR("mulh", -1, -1, 0);
  T_RR("mulh", MIN64, MIN64, 0x4000000000000000);
  T_RR("mulh", MIN64, 2, -1);
  T_RR("mulhu", -1, -1, 0xfffffffffffffffe);
  T_RR("mulhu", 0x100000000, 0x100000000, 1);
  T_RR("mulhsu", -1, -1, -1);
  T_RR("mulhsu", MIN64, 2, -1);
  T_RR("mulhsu", 2, -1, 1);
  T_RR("mulw", 0x7fffffff, 2, 0xfffffffffffffffe);
  T_RR("mulw", 0x100000003, 0x100000005, 15);
  T_RR("div", 20, -6, -3);
  T_RR("div", -20, 6, -3);
  T_RR("div", 7, 0, -1);
  T_RR("div", MIN64, -1, MIN64);
  T_RR("divu", -1, 2, 0x7fffffffffffffff);
  T_RR("divu", 7, 0, -1);
  T_RR("rem", 20, -6, 2);
  T_RR("rem", -20, 6, -2);
  T_RR("rem", 7, 0, 7);
  T_RR("rem", MIN64, -1, 0);
  T_RR("remu", -1, 10, 5);
  T_RR("remu", 7, 0, 7);
  T_RR("divw", 0xffffffff00000014, -6, -3);
  T_RR("divw", 0x80000000, -1, MIN32W);
  T_RR("divw", 7, 0, -1);
  T_RR("divuw", 0xfffffffe, 1, 0xfffffffffffffffe);
  T_RR("divuw", 0x1ffffffff, 0, -1);
  T_RR("divuw", 0x80000000, 2, 0x40000000);
  T_RR("remw", 0x80000000, -1, 0);
  T_RR("remw", -7, 0, -7);
  T_RR("remw", 0x100000007, 0x100000000, 7);
  T_RR("remuw", 0xffffffff, 10, 5);
  T_RR("remuw", 0x80000007, 0, MIN32W | 7);
  T_RR("remuw", 0x123456789, 0x100000000, 0x23456789);
  return finish();
}
