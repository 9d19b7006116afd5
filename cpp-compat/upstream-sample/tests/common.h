// The self-test's stand-in for upstream's tests/common.h: shaped like it
// (AWS SDK and glog headers, the option presets, InitStore), so that
// building this folder proves the harness compiles the test files against
// the project's replacement (cpp-compat/upstream-tests/support/common.h),
// never this file: the AWS SDK is not installed here.
#pragma once

#include <aws/core/Aws.h>
#include <aws/s3/S3Client.h>
#include <glog/logging.h>

#include <catch2/catch_test_macros.hpp>

#include "../include/common.h"
#include "eloq_store.h"

#error "the upstream test harness must not compile the suite's own common.h"

constexpr char test_path[] = "/tmp/eloqstore";
eloqstore::EloqStore *InitStore(const eloqstore::KvOptions &opts);
