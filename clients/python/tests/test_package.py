"""The package builds and installs offline, as its pyproject.toml says."""

import hashlib
import base64
import os
import subprocess
import sys
import tempfile
import unittest
import zipfile

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, ROOT)
import herald_build  # noqa: E402  (the backend lives beside pyproject.toml)

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None


class PackageTest(unittest.TestCase):
    def test_wheel(self):
        with tempfile.TemporaryDirectory() as d:
            name = herald_build.build_wheel(d)
            self.assertEqual(name, "heraldhq_herald-%s-py3-none-any.whl" % herald_build.version())
            with zipfile.ZipFile(os.path.join(d, name)) as whl:
                names = set(whl.namelist())
                sources = {"herald/" + f for f in os.listdir(os.path.join(ROOT, "herald")) if f.endswith(".py")}
                self.assertTrue(sources <= names, sources - names)
                self.assertIn("herald/py.typed", names)
                info = name.split("-py3")[0] + ".dist-info/"
                record = whl.read(info + "RECORD").decode().splitlines()
                for line in record:
                    path, digest, size = line.rsplit(",", 2)
                    if path == info + "RECORD":
                        continue
                    data = whl.read(path)
                    want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
                    self.assertEqual((digest, int(size)), (want, len(data)), path)
                self.assertEqual(len(record), len(names))

    @unittest.skipIf(tomllib is None, "tomllib is Python 3.11+: the metadata check runs there")
    def test_metadata_matches_pyproject(self):
        with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
            project = tomllib.load(f)["project"]
        import herald

        meta = herald_build.metadata()
        self.assertIn("Name: %s\n" % project["name"], meta)
        self.assertIn("Summary: %s\n" % project["description"], meta)
        self.assertIn("Requires-Python: %s\n" % project["requires-python"], meta)
        self.assertIn("Version: %s\n" % herald.__version__, meta)
        self.assertEqual(project["dependencies"], [])

    def test_pip_install_offline(self):
        if subprocess.run([sys.executable, "-m", "pip", "--version"], capture_output=True).returncode != 0:
            self.skipTest("pip is not installed for %s" % sys.executable)
        with tempfile.TemporaryDirectory() as d:
            env = dict(os.environ, PIP_ROOT_USER_ACTION="ignore", PIP_NO_INDEX="1", PIP_FIND_LINKS="", PIP_DISABLE_PIP_VERSION_CHECK="1")
            subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--target", d, ROOT], check=True, env=env)
            out = subprocess.run(
                [sys.executable, "-c", "import herald; print(herald.__file__); herald.verify"],
                cwd=d, env=dict(env, PYTHONPATH=d), capture_output=True, text=True, check=True,
            )
            self.assertTrue(out.stdout.startswith(d), out.stdout)


if __name__ == "__main__":
    unittest.main()
