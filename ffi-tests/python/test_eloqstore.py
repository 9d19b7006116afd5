"""Tests of the ctypes bindings (ffi-tests/python/eloqstore.py) against the real
libeloqstore.so, loaded at run time (see eloqstore._candidates; ctest sets
ELOQSTORE_LIB). Plain unittest, no third-party packages:

    ELOQSTORE_LIB=build/lib/libeloqstore.so python3 -m unittest -v test_eloqstore
"""

import os
import re
import shutil
import tempfile
import threading
import unittest

import eloqstore

HEADER = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "include", "eloqstore.h"
)


class Base(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="eloqstore-py-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.store = eloqstore.Store(os.path.join(self.dir, "store"), num_threads=2)
        self.addCleanup(self.store.close)


class LibraryTest(unittest.TestCase):
    def test_loaded_from_the_requested_path(self):
        lib = eloqstore.library()
        want = os.environ.get("ELOQSTORE_LIB")
        if want:
            self.assertEqual(os.path.realpath(lib.path), os.path.realpath(want))
        self.assertTrue(os.path.exists(lib.path))

    def test_version_matches_header(self):
        with open(HEADER) as f:
            m = re.search(r'#define ELOQSTORE_VERSION_STRING "([^"]+)"', f.read())
        self.assertIsNotNone(m)
        self.assertEqual(eloqstore.version(), m.group(1))

    def test_error_strings(self):
        e = eloqstore.Error(eloqstore.BUSY, "x")
        self.assertEqual(e.name, "BUSY")
        self.assertTrue(e.retryable)
        self.assertIn("Device or resource busy", str(e))
        self.assertFalse(eloqstore.Error(eloqstore.NOT_FOUND).retryable)


class OptionsTest(unittest.TestCase):
    def test_fields_by_name(self):
        names = eloqstore.Options.field_names()
        self.assertIn("num_threads", names)
        self.assertIn("store_path", names)
        o = eloqstore.Options(num_threads=3, data_append_mode=True, cloud_region="eu")
        self.assertEqual(o["num_threads"], 3)
        self.assertIs(o["data_append_mode"], True)
        self.assertEqual(o["cloud_region"], "eu")
        o.store_paths = ["/a", "/b"]
        self.assertEqual(o["store_path"], ["/a", "/b"])
        c = o.copy()
        c["num_threads"] = 5
        self.assertEqual((o["num_threads"], c["num_threads"]), (3, 5))
        with self.assertRaises(eloqstore.Error) as cm:
            o["no_such_option"] = 1
        self.assertEqual(cm.exception.code, eloqstore.INVALID_ARGS)
        self.assertIn("unknown option no_such_option", cm.exception.message)
        with self.assertRaises(eloqstore.Error) as cm:
            o["num_threads"] = 1 << 20  # a u16
        self.assertIn("num_threads", cm.exception.message)
        o.close()

    def test_invalid_options_raise(self):
        d = tempfile.mkdtemp(prefix="eloqstore-py-")
        self.addCleanup(shutil.rmtree, d, True)
        with self.assertRaises(eloqstore.Error) as cm:
            eloqstore.Store(os.path.join(d, "s"), data_page_size=1000)
        self.assertEqual(cm.exception.code, eloqstore.INVALID_ARGS)
        self.assertIn("data_page_size", cm.exception.message)

    def test_ini(self):
        d = tempfile.mkdtemp(prefix="eloqstore-py-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "o.ini")
        with open(path, "w") as f:
            f.write("[run]\nnum_threads = 4\n[permanent]\nstore_path = /x\n")
        o = eloqstore.Options()
        o.load_ini(path)
        self.assertEqual(o["num_threads"], 4)
        self.assertEqual(o.store_paths, ["/x"])
        with open(path, "w") as f:
            f.write("[run]\nnum_threads = 4\n")
        with self.assertRaises(eloqstore.Error) as cm:
            o.load_ini(path)
        self.assertEqual(cm.exception.ini_code, -2)


class StoreTest(Base):
    def test_write_read_floor_delete(self):
        s = self.store
        s.write("t", 0, [(b"b", b"2"), (b"a", b"1"), (b"c\x00", b"\x00\xff")], timestamp=5)
        self.assertEqual(s.get("t", 0, b"a"), b"1")
        self.assertEqual(s.get("t", 0, b"c\x00"), b"\x00\xff")  # binary safe
        self.assertIsNone(s.get("t", 0, b"zz"))
        self.assertIsNone(s.get("t", 1, b"a"))  # another partition
        self.assertEqual(s.floor("t", 0, b"bz"), (b"b", b"2"))
        self.assertIsNone(s.floor("t", 0, b"0"))
        # A write older than the stored one loses; a newer one wins.
        s.write("t", 0, [(b"a", b"old")], timestamp=4)
        self.assertEqual(s.get("t", 0, b"a"), b"1")
        s.delete("t", 0, [b"b"])  # timestamp: now
        self.assertIsNone(s.get("t", 0, b"b"))
        self.assertEqual(s.floor("t", 0, b"bz"), (b"a", b"1"))

    def test_scan_with_pagination(self):
        s = self.store
        items = [(b"k%04d" % i, b"v%d" % i) for i in range(250)]
        s.write("scan", 3, items)
        page, more = s.scan_page("scan", 3, max_entries=100)
        self.assertEqual(len(page), 100)
        self.assertTrue(more)
        self.assertEqual(page[0], items[0])
        # Pages continue after the last key until everything was seen.
        self.assertEqual(list(s.scan("scan", 3, page_entries=100)), items)
        self.assertEqual(list(s.scan("scan", 3, page_bytes=64)), items)
        self.assertEqual(list(s.scan("scan", 3, b"k0010", b"k0020")), items[10:20])
        # Missing partitions scan as empty.
        self.assertEqual(list(s.scan("scan", 4)), [])
        s.truncate("scan", 3, b"k0100")
        self.assertEqual(list(s.scan("scan", 3)), items[:100])
        s.drop_table("scan")
        self.assertEqual(list(s.scan("scan", 3)), [])

    def test_errors_are_exceptions(self):
        s = self.store
        with self.assertRaises(eloqstore.Error) as cm:
            s.write("t", 0, [(b"", b"empty key")])
        self.assertEqual(cm.exception.code, eloqstore.INVALID_ARGS)
        self.assertIn("empty key", cm.exception.message)
        with self.assertRaises(eloqstore.NotFound):
            s.scan_page("never", 0)
        r = eloqstore.Request(eloqstore.LIST_OBJECT, "t", 0)
        with self.assertRaises(eloqstore.Error):
            s.exec(r)

    def test_async_callback_on_a_store_thread(self):
        s = self.store
        s.write("t", 0, [(b"key", b"value")])
        done = threading.Event()
        seen = {}

        def callback(req):
            seen["thread"] = threading.get_ident()
            seen["result"] = req.result()
            seen["error"] = req.error
            done.set()

        req = s.read_async("t", 0, b"key", callback)
        self.assertTrue(done.wait(30), "callback never ran")
        req.wait()
        self.assertNotEqual(seen["thread"], threading.get_ident())
        self.assertEqual(seen["error"], eloqstore.OK)
        self.assertEqual(seen["result"][:2], (b"key", b"value"))
        self.assertEqual(req.user_data > 0, True)
        self.assertFalse(hasattr(req, "callback_exception"))

    def test_many_async_then_close(self):
        s = self.store
        s.write("t", 1, [(b"k%03d" % i, b"%d" % i) for i in range(50)])
        results = []
        lock = threading.Lock()

        def callback(req):
            with lock:
                results.append(req.result()[1])

        reqs = [s.read_async("t", 1, b"k%03d" % i, callback) for i in range(50)]
        s.close()  # waits for every request and its callback
        self.assertEqual(sorted(results, key=int), [b"%d" % i for i in range(50)])
        self.assertTrue(all(r.done for r in reqs))
        with self.assertRaises(eloqstore.Error):
            eloqstore.Store(os.path.join(self.dir, "store"), data_page_size=1000)


if __name__ == "__main__":
    unittest.main()
