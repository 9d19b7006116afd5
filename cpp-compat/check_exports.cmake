# ctest cxx.exports: libeloqstore.so exports the C++ API of upstream
# EloqStore (namespace eloqstore) next to the C ABI, and nothing else: no
# Rust-mangled symbol, no internal helper.
# Inputs: LIB (the shared library), NM, CXXFILT.
foreach(v LIB NM CXXFILT)
  if(NOT ${v} OR NOT EXISTS "${${v}}")
    message(FATAL_ERROR "${v} is not set or missing (${${v}})")
  endif()
endforeach()

execute_process(COMMAND "${NM}" -D --defined-only --format=posix "${LIB}"
                OUTPUT_VARIABLE raw RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed on ${LIB}")
endif()
string(REPLACE "\n" ";" raw_lines "${raw}")
set(names "")
foreach(line IN LISTS raw_lines)
  if(line MATCHES "^([^ ]+) ")
    list(APPEND names "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(LENGTH names total)

set(c_abi "")
set(cxx "")
set(bad "")
foreach(n IN LISTS names)
  if(n MATCHES "^eloqstore_")
    list(APPEND c_abi "${n}")
  elseif(n MATCHES "^_Z")
    list(APPEND cxx "${n}")
  else()
    list(APPEND bad "${n}")
  endif()
  # Rust symbols: legacy mangling ends in a 16-digit hash, v0 starts _R.
  if(n MATCHES "17h[0-9a-f]+E$" OR n MATCHES "^_R")
    list(APPEND bad "${n} (Rust-mangled)")
  endif()
endforeach()

# Demangle the C++ names in one c++filt run.
string(REPLACE ";" "\n" cxx_text "${cxx}")
file(WRITE "${CMAKE_CURRENT_BINARY_DIR}/cxx_exports_raw.txt" "${cxx_text}\n")
execute_process(COMMAND "${CXXFILT}"
                INPUT_FILE "${CMAKE_CURRENT_BINARY_DIR}/cxx_exports_raw.txt"
                OUTPUT_VARIABLE demangled RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "c++filt failed")
endif()
string(REPLACE ";" "\\;" demangled "${demangled}")
string(REPLACE "\n" ";" demangled "${demangled}")
list(FILTER demangled EXCLUDE REGEX "^$")
foreach(d IN LISTS demangled)
  if(NOT d MATCHES "^((vtable|typeinfo|typeinfo name|guard variable) for |(non-)?virtual thunk to )?eloqstore::")
    list(APPEND bad "${d} (outside namespace eloqstore)")
  elseif(d MATCHES "eloqstore::compat::")
    list(APPEND bad "${d} (internal helper)")
  endif()
endforeach()

# The API a C++ program links against.
set(required
  "eloqstore::EloqStore::EloqStore(eloqstore::KvOptions const&)"
  "eloqstore::EloqStore::~EloqStore()"
  "eloqstore::EloqStore::Start(unsigned long)"
  "eloqstore::EloqStore::Stop()"
  "eloqstore::EloqStore::IsStopped() const"
  "eloqstore::EloqStore::Options() const"
  "eloqstore::EloqStore::ValidateOptions(eloqstore::KvOptions&)"
  "eloqstore::EloqStore::ExecSync(eloqstore::KvRequest*)"
  "eloqstore::EloqStore::ExecAsyn(eloqstore::KvRequest*)"
  "eloqstore::KvOptions::LoadFromIni(char const*)"
  "eloqstore::KvOptions::operator==(eloqstore::KvOptions const&) const"
  "eloqstore::Comparator::DefaultComparator()"
  "eloqstore::KvRequest::Wait() const"
  "eloqstore::KvRequest::ErrMessage() const"
  "eloqstore::ScanRequest::Entries()"
  "eloqstore::BatchWriteRequest::AddWrite(std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >, std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >, unsigned long, eloqstore::WriteOp)"
  "eloqstore::TableIdent::ToString[abi:cxx11]() const"
  "eloqstore::operator<<(std::basic_ostream<char, std::char_traits<char> >&, eloqstore::TableIdent const&)"
  "eloqstore::PutVarint32(std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >*, unsigned int)"
  "typeinfo for eloqstore::KvRequest"
  "typeinfo for eloqstore::Comparator"
  "vtable for eloqstore::ReadRequest"
  "vtable for eloqstore::ScanRequest")
set(missing "")
foreach(r IN LISTS required)
  list(FIND demangled "${r}" idx)
  if(idx EQUAL -1)
    list(APPEND missing "${r}")
  endif()
endforeach()
if(NOT c_abi)
  list(APPEND missing "the C ABI (eloqstore_*)")
endif()

list(LENGTH c_abi n_c)
list(LENGTH cxx n_cxx)
message(STATUS "${LIB}: ${total} exported symbols: ${n_c} C ABI, ${n_cxx} C++")
if(missing OR bad)
  string(REPLACE ";" "\n  " missing "${missing}")
  string(REPLACE ";" "\n  " bad "${bad}")
  message(FATAL_ERROR "missing exports:\n  ${missing}\nunexpected exports:\n  ${bad}")
endif()
