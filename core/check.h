// Assertions and Status helpers used by every module.
//
// Debian 12's Abseil (20220623) has no absl/log and no ABSL_RETURN_IF_ERROR, so they
// live here. RP_CHECK is always on: a broken invariant aborts with file:line and the
// condition, because continuing could acknowledge mail we do not hold (STYLE.md,
// Errors, class 3). RP_DCHECK is for checks too expensive for release builds.
// Peer behaviour and operating errors never reach these macros.
#pragma once

#include <cstdio>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ringpost::core::internal {

[[noreturn]] void CheckFailed(const char* file, int line, const char* condition, const char* message);

}  // namespace ringpost::core::internal

#define RP_CHECK_MSG(condition, message)                                                \
  do {                                                                                  \
    if (__builtin_expect(!(condition), 0)) {                                            \
      ::ringpost::core::internal::CheckFailed(__FILE__, __LINE__, #condition, message); \
    }                                                                                   \
  } while (0)

#define RP_CHECK(condition) RP_CHECK_MSG(condition, "")
#define RP_CHECK_EQ(a, b) RP_CHECK((a) == (b))
#define RP_CHECK_NE(a, b) RP_CHECK((a) != (b))
#define RP_CHECK_LT(a, b) RP_CHECK((a) < (b))
#define RP_CHECK_LE(a, b) RP_CHECK((a) <= (b))
#define RP_CHECK_GT(a, b) RP_CHECK((a) > (b))
#define RP_CHECK_GE(a, b) RP_CHECK((a) >= (b))

#ifdef NDEBUG
#define RP_DCHECK(condition)      \
  do {                            \
    if (false) (void)(condition); \
  } while (0)
#else
#define RP_DCHECK(condition) RP_CHECK(condition)
#endif

#define RP_INTERNAL_CONCAT_IMPL(a, b) a##b
#define RP_INTERNAL_CONCAT(a, b) RP_INTERNAL_CONCAT_IMPL(a, b)

// Returns the status from the enclosing function when `expr` is not OK.
#define RP_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::absl::Status rp_status_ = (expr);      \
    if (!rp_status_.ok()) return rp_status_; \
  } while (0)

// RP_ASSIGN_OR_RETURN(auto x, MakeX()): declares or assigns `lhs` from a StatusOr,
// returning its status from the enclosing function when it is not OK.
#define RP_ASSIGN_OR_RETURN(lhs, expr) \
  RP_INTERNAL_ASSIGN_OR_RETURN(RP_INTERNAL_CONCAT(rp_statusor_, __LINE__), lhs, expr)
#define RP_INTERNAL_ASSIGN_OR_RETURN(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
