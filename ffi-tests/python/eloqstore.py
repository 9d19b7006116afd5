"""Python bindings for EloqStore-rs through its C ABI, with ctypes.

No build step: the module dlopen()s ``libeloqstore.so`` at run time. The
library is looked for, in order, at ``$ELOQSTORE_LIB`` (a file path), next
to this module, in ``$CARGO_TARGET_DIR/{release,debug}``, in the
repository's ``target/{release,debug}`` and ``build/lib``.

The idiom::

    import eloqstore

    with eloqstore.Store("/tmp/mystore", num_threads=2) as store:
        store.write("users", 7, [(b"alice", b"1"), (b"bob", b"2")])
        assert store.get("users", 7, b"bob") == b"2"
        for key, value in store.scan("users", 7, page_entries=100):
            ...
        done = threading.Event()
        store.read_async("users", 7, b"alice", lambda r: done.set())
        done.wait()

Keys, values and table names are ``bytes`` (table names may be ``str``).
Failures raise :class:`Error` (:class:`NotFound` for a missing partition
in a scan); ``get`` and ``floor`` return ``None`` for a missing key.
Callbacks of asynchronous requests run on a store thread: keep them short.
"""

import atexit
import ctypes
import os
import threading
import time
import weakref
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_bool,
    c_char,
    c_char_p,
    c_int,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)

__all__ = [
    "Error",
    "NotFound",
    "Options",
    "Request",
    "Store",
    "library",
    "version",
]

# Error codes (eloqstore_error).
OK = 0
INVALID_ARGS = 1
NOT_FOUND = 2
NOT_RUNNING = 3
BUSY = 10
ERROR_NAMES = [
    "OK",
    "INVALID_ARGS",
    "NOT_FOUND",
    "NOT_RUNNING",
    "CORRUPTED",
    "END_OF_FILE",
    "OUT_OF_SPACE",
    "OUT_OF_MEM",
    "OPEN_FILE_LIMIT",
    "TRY_AGAIN",
    "BUSY",
    "TIMEOUT",
    "NO_PERMISSION",
    "CLOUD_ERR",
    "IO_FAIL",
    "EXPIRED_TERM",
    "CLOUD_NO_MANIFEST",
]

# Request kinds (eloqstore_request_type).
READ, FLOOR, SCAN, LIST_OBJECT, BATCH_WRITE, TRUNCATE, DROP_TABLE = range(7)
ARCHIVE, COMPACT, CLEAN_EXPIRED, GLOBAL_ARCHIVE = range(7, 11)
# Write operations (eloqstore_write_op).
UPSERT, DELETE = 0, 1
# Option field kinds (eloqstore_options_field_kind).
KIND_UINT, KIND_BOOL, KIND_STRING, KIND_LIST, KIND_CALLBACK = range(5)


class Entry(Structure):
    """eloqstore_entry."""

    _fields_ = [
        ("key", POINTER(c_uint8)),
        ("key_len", c_size_t),
        ("value", POINTER(c_uint8)),
        ("value_len", c_size_t),
        ("timestamp", c_uint64),
        ("expire_ts", c_uint64),
    ]

    def key_bytes(self):
        return ctypes.string_at(self.key, self.key_len) if self.key_len else b""

    def value_bytes(self):
        return ctypes.string_at(self.value, self.value_len) if self.value_len else b""


CALLBACK = CFUNCTYPE(None, c_void_p, c_uint64)

_HERE = os.path.dirname(os.path.abspath(__file__))
_REPO = os.path.dirname(os.path.dirname(_HERE))  # ffi-tests/python -> repository


def _candidates():
    env = os.environ.get("ELOQSTORE_LIB")
    if env:
        # An explicit path is the only candidate: a wrong one must fail,
        # not silently load another copy.
        return [env]
    out = [os.path.join(_HERE, "libeloqstore.so")]
    target = os.environ.get("CARGO_TARGET_DIR")
    roots = [target] if target else []
    roots.append(os.path.join(_REPO, "target"))
    for root in roots:
        for profile in ("release", "debug"):
            out.append(os.path.join(root, profile, "libeloqstore.so"))
    out.append(os.path.join(_REPO, "build", "lib", "libeloqstore.so"))
    return out


def _declare(lib):
    """Declares every function's prototype (ctypes otherwise assumes int)."""
    opts, req, store, cmp = c_void_p, c_void_p, c_void_p, c_void_p
    protos = {
        "eloqstore_version": (c_char_p, []),
        "eloqstore_error_string": (c_char_p, [c_uint8]),
        "eloqstore_error_is_retryable": (c_bool, [c_uint8]),
        "eloqstore_last_error_message": (c_char_p, []),
        "eloqstore_options_new": (opts, []),
        "eloqstore_options_clone": (opts, [opts]),
        "eloqstore_options_free": (None, [opts]),
        "eloqstore_options_load_ini": (c_int, [opts, c_char_p]),
        "eloqstore_options_validate": (c_bool, [opts]),
        "eloqstore_options_field_count": (c_size_t, []),
        "eloqstore_options_field_name": (c_char_p, [c_size_t]),
        "eloqstore_options_set_uint": (c_uint8, [opts, c_char_p, c_uint64]),
        "eloqstore_options_get_uint": (c_uint8, [opts, c_char_p, POINTER(c_uint64)]),
        "eloqstore_options_set_bool": (c_uint8, [opts, c_char_p, c_bool]),
        "eloqstore_options_get_bool": (c_uint8, [opts, c_char_p, POINTER(c_bool)]),
        "eloqstore_options_set_string": (c_uint8, [opts, c_char_p, c_char_p, c_size_t]),
        "eloqstore_options_get_string": (
            c_uint8,
            [opts, c_char_p, POINTER(c_char), c_size_t, POINTER(c_size_t)],
        ),
        "eloqstore_options_set_store_paths": (c_uint8, [opts, POINTER(c_char_p), c_size_t]),
        "eloqstore_options_store_path_count": (c_size_t, [opts]),
        "eloqstore_options_get_store_path": (
            c_uint8,
            [opts, c_size_t, POINTER(c_char), c_size_t, POINTER(c_size_t)],
        ),
        "eloqstore_options_field_kind": (c_int, [c_char_p]),
        "eloqstore_comparator_new": (cmp, [c_void_p, c_void_p, c_char_p, c_void_p, c_void_p]),
        "eloqstore_comparator_free": (None, [cmp]),
        "eloqstore_options_set_comparator": (c_uint8, [opts, cmp]),
        "eloqstore_options_set_partition_filter": (
            c_uint8,
            [opts, c_void_p, c_void_p, c_void_p],
        ),
        "eloqstore_request_new": (req, [c_uint8]),
        "eloqstore_request_free": (None, [req]),
        "eloqstore_request_type_of": (c_uint8, [req]),
        "eloqstore_request_set_table": (c_uint8, [req, c_char_p, c_size_t, c_uint32]),
        "eloqstore_request_set_key": (c_uint8, [req, c_char_p, c_size_t]),
        "eloqstore_scan_set_range": (
            c_uint8,
            [req, c_char_p, c_size_t, c_char_p, c_size_t, c_bool],
        ),
        "eloqstore_scan_set_pagination": (c_uint8, [req, c_size_t, c_size_t]),
        "eloqstore_scan_set_prefetch": (c_uint8, [req, c_size_t]),
        "eloqstore_batch_add": (
            c_uint8,
            [req, c_char_p, c_size_t, c_char_p, c_size_t, c_uint64, c_uint8, c_uint64],
        ),
        "eloqstore_batch_clear": (c_uint8, [req]),
        "eloqstore_batch_len": (c_size_t, [req]),
        "eloqstore_truncate_set_position": (c_uint8, [req, c_char_p, c_size_t]),
        "eloqstore_drop_table_set_name": (c_uint8, [req, c_char_p, c_size_t]),
        "eloqstore_archive_set_timestamp": (c_uint8, [req, c_uint64]),
        "eloqstore_request_is_done": (c_bool, [req]),
        "eloqstore_request_wait": (None, [req]),
        "eloqstore_request_error": (c_uint8, [req]),
        "eloqstore_request_error_message": (c_char_p, [req]),
        "eloqstore_request_retryable": (c_bool, [req]),
        "eloqstore_request_user_data": (c_uint64, [req]),
        "eloqstore_request_result": (c_uint8, [req, POINTER(Entry)]),
        "eloqstore_scan_entry_count": (c_size_t, [req]),
        "eloqstore_scan_entry": (c_uint8, [req, c_size_t, POINTER(Entry)]),
        "eloqstore_scan_has_remaining": (c_bool, [req]),
        "eloqstore_scan_result_size": (c_uint8, [req, POINTER(c_size_t), POINTER(c_size_t)]),
        "eloqstore_store_new": (c_uint8, [opts, POINTER(c_void_p)]),
        "eloqstore_store_start": (c_uint8, [store, c_uint64]),
        "eloqstore_store_stop": (None, [store]),
        "eloqstore_store_is_stopped": (c_bool, [store]),
        "eloqstore_store_free": (None, [store]),
        "eloqstore_store_exec_sync": (c_uint8, [store, req]),
        "eloqstore_store_exec_async": (c_bool, [store, req, CALLBACK, c_uint64]),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)  # AttributeError: the library lacks it
        fn.restype = restype
        fn.argtypes = argtypes


_lib = None
_lib_lock = threading.Lock()


def library():
    """The loaded library (loaded on first use). OSError if not found."""
    global _lib
    with _lib_lock:
        if _lib is None:
            tried = []
            for path in _candidates():
                if os.path.exists(path):
                    # CDLL releases the GIL during calls, so store threads
                    # can run Python callbacks while we wait in the library.
                    lib = ctypes.CDLL(path)
                    _declare(lib)
                    lib.path = path
                    _lib = lib
                    break
                tried.append(path)
            else:
                raise OSError("libeloqstore.so not found; tried: " + ", ".join(tried))
        return _lib


def version():
    return library().eloqstore_version().decode()


def _b(x):
    if isinstance(x, str):
        return x.encode()
    if x is None:
        return b""
    return bytes(x)


class Error(Exception):
    """A failed call: `code` (an eloqstore_error), `name`, `message`."""

    def __init__(self, code, message=""):
        self.code = code
        self.name = ERROR_NAMES[code] if code < len(ERROR_NAMES) else "UNKNOWN"
        self.message = message
        text = library().eloqstore_error_string(code).decode()
        super().__init__(f"{self.name}: {text}" + (f": {message}" if message else ""))

    @property
    def retryable(self):
        return bool(library().eloqstore_error_is_retryable(self.code))


class NotFound(Error):
    pass


def _raise(code, message=None):
    if code == OK:
        return
    if message is None:
        message = (library().eloqstore_last_error_message() or b"").decode(errors="replace")
    cls = NotFound if code == NOT_FOUND else Error
    raise cls(code, message)


class Options:
    """eloqstore_options: fields by their upstream names."""

    def __init__(self, **fields):
        self._h = None
        self._lib = library()
        self._h = self._lib.eloqstore_options_new()
        if not self._h:
            raise MemoryError("eloqstore_options_new")
        for name, value in fields.items():
            self[name] = value

    def copy(self):
        other = Options.__new__(Options)
        other._lib = self._lib
        other._h = self._lib.eloqstore_options_clone(self._h)
        if not other._h:
            raise MemoryError("eloqstore_options_clone")
        return other

    @staticmethod
    def field_names():
        lib = library()
        return [lib.eloqstore_options_field_name(i).decode() for i in range(lib.eloqstore_options_field_count())]

    @staticmethod
    def field_kind(name):
        return library().eloqstore_options_field_kind(name.encode())

    def __setitem__(self, name, value):
        lib, n = self._lib, name.encode()
        kind = lib.eloqstore_options_field_kind(n)
        if kind == KIND_UINT:
            _raise(lib.eloqstore_options_set_uint(self._h, n, int(value)))
        elif kind == KIND_BOOL:
            _raise(lib.eloqstore_options_set_bool(self._h, n, bool(value)))
        elif kind == KIND_STRING:
            v = _b(value)
            _raise(lib.eloqstore_options_set_string(self._h, n, v, len(v)))
        elif kind == KIND_LIST:
            self.store_paths = value
        elif kind == KIND_CALLBACK:
            raise Error(INVALID_ARGS, f"option {name} is a callback, not a value")
        else:  # unknown: the library's own message names it
            _raise(lib.eloqstore_options_set_uint(self._h, n, 0))

    def __getitem__(self, name):
        lib, n = self._lib, name.encode()
        kind = lib.eloqstore_options_field_kind(n)
        if kind == KIND_UINT:
            out = c_uint64()
            _raise(lib.eloqstore_options_get_uint(self._h, n, byref(out)))
            return out.value
        if kind == KIND_BOOL:
            out = c_bool()
            _raise(lib.eloqstore_options_get_bool(self._h, n, byref(out)))
            return out.value
        if kind == KIND_STRING:
            return self._copy_out(lambda buf, cap, ln: lib.eloqstore_options_get_string(self._h, n, buf, cap, ln))
        if kind == KIND_LIST:
            return self.store_paths
        raise Error(INVALID_ARGS, f"option {name} cannot be read by value")

    @staticmethod
    def _copy_out(call):
        need = c_size_t()
        _raise(call(None, 0, byref(need)))
        buf = ctypes.create_string_buffer(need.value + 1)
        _raise(call(buf, len(buf), byref(need)))
        return buf.raw[: need.value].decode()

    @property
    def store_paths(self):
        lib = self._lib
        n = lib.eloqstore_options_store_path_count(self._h)
        return [
            self._copy_out(lambda buf, cap, ln, i=i: lib.eloqstore_options_get_store_path(self._h, i, buf, cap, ln))
            for i in range(n)
        ]

    @store_paths.setter
    def store_paths(self, paths):
        if isinstance(paths, (str, bytes, os.PathLike)):
            paths = [paths]
        enc = [os.fsencode(p) for p in paths]
        arr = (c_char_p * len(enc))(*enc)
        _raise(self._lib.eloqstore_options_set_store_paths(self._h, arr, len(enc)))

    def load_ini(self, path):
        code = self._lib.eloqstore_options_load_ini(self._h, os.fsencode(path))
        if code != 0:
            msg = self._lib.eloqstore_last_error_message().decode(errors="replace")
            err = Error(INVALID_ARGS, msg)
            err.ini_code = code
            raise err

    def validate(self):
        if not self._lib.eloqstore_options_validate(self._h):
            _raise(INVALID_ARGS)

    def close(self):
        if self._h:
            self._lib.eloqstore_options_free(self._h)
            self._h = None

    def __del__(self):
        self.close()


class Request:
    """One eloqstore_request of a given kind (READ, SCAN, ...)."""

    def __init__(self, kind, table=None, partition=0):
        self._h = None
        self._lib = library()
        self._h = self._lib.eloqstore_request_new(kind)
        if not self._h:
            raise Error(INVALID_ARGS, f"unknown request kind {kind}")
        if table is not None:
            self.set_table(table, partition)

    @property
    def handle(self):
        return self._h

    def set_table(self, table, partition):
        t = _b(table)
        _raise(self._lib.eloqstore_request_set_table(self._h, t, len(t), partition))

    def set_key(self, key):
        k = _b(key)
        _raise(self._lib.eloqstore_request_set_key(self._h, k, len(k)))

    def set_range(self, begin=b"", end=b"", begin_inclusive=True):
        b, e = _b(begin), _b(end)
        _raise(self._lib.eloqstore_scan_set_range(self._h, b, len(b), e, len(e), begin_inclusive))

    def set_pagination(self, entries=0, nbytes=0):
        _raise(self._lib.eloqstore_scan_set_pagination(self._h, entries, nbytes))

    def add(self, key, value, timestamp=0, op=UPSERT, expire_ts=0):
        k, v = _b(key), _b(value)
        _raise(self._lib.eloqstore_batch_add(self._h, k, len(k), v, len(v), timestamp, op, expire_ts))

    @property
    def done(self):
        return bool(self._lib.eloqstore_request_is_done(self._h))

    def wait(self):
        self._lib.eloqstore_request_wait(self._h)

    @property
    def error(self):
        return self._lib.eloqstore_request_error(self._h)

    @property
    def error_message(self):
        return self._lib.eloqstore_request_error_message(self._h).decode(errors="replace")

    @property
    def user_data(self):
        return self._lib.eloqstore_request_user_data(self._h)

    def check(self):
        """Raises the request's error, if any."""
        _raise(self.error, self.error_message)

    def result(self):
        """(key, value, timestamp, expire_ts) of a Read/Floor, or None."""
        e = Entry()
        code = self._lib.eloqstore_request_result(self._h, byref(e))
        if code == NOT_FOUND:
            return None
        _raise(code, self.error_message)
        return e.key_bytes(), e.value_bytes(), e.timestamp, e.expire_ts

    def entries(self):
        """The entries of the last Scan: a list of (key, value)."""
        n = self._lib.eloqstore_scan_entry_count(self._h)
        out = []
        e = Entry()
        for i in range(n):
            _raise(self._lib.eloqstore_scan_entry(self._h, i, byref(e)))
            out.append((e.key_bytes(), e.value_bytes()))
        return out

    @property
    def has_remaining(self):
        return bool(self._lib.eloqstore_scan_has_remaining(self._h))

    def close(self):
        if self._h:
            self._lib.eloqstore_request_free(self._h)
            self._h = None

    def __del__(self):
        self.close()


# Asynchronous completions: one C trampoline for every request; the Python
# callable and the Request (kept alive while in flight) are looked up by
# the user data.
_pending = {}
_pending_lock = threading.Lock()
_next_id = [1]


def _trampoline(req_ptr, user_data):
    with _pending_lock:
        request, fn = _pending.pop(user_data, (None, None))
    if fn is None:
        return
    try:
        fn(request)
    except BaseException as e:  # never let an exception unwind into C
        request.callback_exception = e


_TRAMPOLINE = CALLBACK(_trampoline)  # lives as long as the module

_live_stores = weakref.WeakSet()


class Store:
    """An EloqStore: opened (and started) on creation, closed by close()
    or a with block. `path` None with no store_path option: in memory."""

    def __init__(self, path=None, options=None, **fields):
        self._h = None
        self._lib = library()
        # A copy: the caller's options stay as they were.
        opts = options.copy() if options is not None else Options()
        if path is not None:
            opts.store_paths = [path]
        for name, value in fields.items():
            opts[name] = value
        out = c_void_p()
        _raise(self._lib.eloqstore_store_new(opts._h, byref(out)))
        self._h = out
        _raise(self._lib.eloqstore_store_start(self._h, 0))
        _live_stores.add(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stops (waiting for requests in flight and their callbacks) and
        frees the store."""
        if self._h:
            self._lib.eloqstore_store_free(self._h)
            self._h = None

    def __del__(self):
        self.close()

    @property
    def stopped(self):
        return bool(self._lib.eloqstore_store_is_stopped(self._h))

    def exec(self, request):
        """Runs a Request to completion; raises its error."""
        code = self._lib.eloqstore_store_exec_sync(self._h, request.handle)
        _raise(code, request.error_message)
        return request

    def exec_async(self, request, callback):
        """Submits a Request; callback(request) runs on a store thread."""
        with _pending_lock:
            ud = _next_id[0]
            _next_id[0] += 1
            _pending[ud] = (request, callback)
        if not self._lib.eloqstore_store_exec_async(self._h, request.handle, _TRAMPOLINE, ud):
            with _pending_lock:
                _pending.pop(ud, None)
            raise Error(NOT_RUNNING, "the store is stopped or the request is in flight")
        return request

    def write(self, table, partition, items, timestamp=None, expire_ts=0):
        """Upserts (key, value) pairs (value None: delete), sorted by key.

        The engine keeps, per key, the write with the highest timestamp
        (a tie goes to the newer write); `timestamp` None means now, in
        milliseconds. `expire_ts` is in milliseconds since the epoch."""
        if timestamp is None:
            timestamp = time.time_ns() // 1_000_000
        r = Request(BATCH_WRITE, table, partition)
        for key, value in sorted(items, key=lambda kv: _b(kv[0])):
            if value is None:
                r.add(key, b"", timestamp, DELETE, 0)
            else:
                r.add(key, value, timestamp, UPSERT, expire_ts)
        self.exec(r)

    def delete(self, table, partition, keys, timestamp=None):
        self.write(table, partition, [(k, None) for k in keys], timestamp)

    def _point(self, kind, table, partition, key):
        r = Request(kind, table, partition)
        r.set_key(key)
        code = self._lib.eloqstore_store_exec_sync(self._h, r.handle)
        if code == NOT_FOUND:
            return None
        _raise(code, r.error_message)
        return r.result()

    def get(self, table, partition, key):
        """The value of `key`, or None."""
        res = self._point(READ, table, partition, key)
        return None if res is None else res[1]

    def floor(self, table, partition, key):
        """(key, value) of the greatest key <= `key`, or None."""
        res = self._point(FLOOR, table, partition, key)
        return None if res is None else res[:2]

    def scan_page(self, table, partition, begin=b"", end=b"", begin_inclusive=True, max_entries=0, max_bytes=0):
        """One page: ([(key, value)], has_remaining)."""
        r = Request(SCAN, table, partition)
        r.set_range(begin, end, begin_inclusive)
        r.set_pagination(max_entries, max_bytes)
        self.exec(r)
        return r.entries(), r.has_remaining

    def scan(self, table, partition, begin=b"", end=b"", page_entries=0, page_bytes=0):
        """Every (key, value) in [begin, end), fetched page by page."""
        inclusive = True
        while True:
            try:
                page, more = self.scan_page(table, partition, begin, end, inclusive, page_entries, page_bytes)
            except NotFound:
                return
            yield from page
            if not more:
                return
            begin, inclusive = page[-1][0], False

    def truncate(self, table, partition, position=b""):
        r = Request(TRUNCATE, table, partition)
        p = _b(position)
        _raise(self._lib.eloqstore_truncate_set_position(r.handle, p, len(p)))
        self.exec(r)

    def drop_table(self, table):
        r = Request(DROP_TABLE)
        t = _b(table)
        _raise(self._lib.eloqstore_drop_table_set_name(r.handle, t, len(t)))
        self.exec(r)

    def read_async(self, table, partition, key, callback):
        """Reads `key`; callback(request) runs on a store thread when done
        (request.result(), request.error, ...)."""
        r = Request(READ, table, partition)
        r.set_key(key)
        return self.exec_async(r, callback)


@atexit.register
def _close_stores():
    # Store threads must not call into an interpreter that is finalizing.
    for s in list(_live_stores):
        s.close()
