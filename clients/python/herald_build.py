"""The package's PEP 517 build backend, in the standard library only.

setuptools cannot build this package without a network: pip's isolated build
downloads it, and setuptools before 70.1 also needs the wheel package. This backend
needs nothing, so ``pip install ./clients/python`` works offline, on any Python the
package supports. It builds a pure-Python wheel of the herald package, an sdist, and
an editable install (a .pth file).
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))

NAME = "heraldhq-herald"
SUMMARY = "Herald's Python client: publish events and manage webhooks through Herald's API, and verify the webhooks it delivers"
REQUIRES_PYTHON = ">=3.9"
PACKAGE = "herald"
SDIST_FILES = ("pyproject.toml", "README.md", "herald_build.py")

__all__ = ["build_wheel", "build_sdist", "build_editable", "metadata"]


def version():
    """The version herald/_version.py declares."""
    with open(os.path.join(HERE, PACKAGE, "_version.py"), encoding="utf-8") as f:
        m = re.search(r'^__version__ = "([^"]+)"', f.read(), re.M)
    if m is None:
        raise RuntimeError("herald/_version.py declares no __version__")
    return m.group(1)


def metadata():
    """The core metadata (METADATA, version 2.1) of the distribution."""
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return (
        "Metadata-Version: 2.1\n"
        "Name: %s\n"
        "Version: %s\n"
        "Summary: %s\n"
        "Project-URL: Source, https://github.com/heraldhq/herald/tree/main/clients/python\n"
        "Requires-Python: %s\n"
        "Classifier: Programming Language :: Python :: 3\n"
        "Classifier: Typing :: Typed\n"
        "Description-Content-Type: text/markdown\n"
        "\n%s" % (NAME, version(), SUMMARY, REQUIRES_PYTHON, readme)
    )


def _dist():
    return "%s-%s" % (NAME.replace("-", "_"), version())


def _package_files():
    root = os.path.join(HERE, PACKAGE)
    for name in sorted(os.listdir(root)):
        if name.endswith(".py") or name == "py.typed":
            yield "%s/%s" % (PACKAGE, name), os.path.join(root, name)


def _write_wheel(directory, files):
    """Write a py3-none-any wheel of files ((archive name, bytes) pairs) and its
    dist-info into directory; return its file name."""
    dist = _dist()
    info = dist + ".dist-info"
    files = list(files) + [
        (info + "/METADATA", metadata().encode("utf-8")),
        (info + "/WHEEL", b"Wheel-Version: 1.0\nGenerator: herald_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    record = []
    name = dist + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as whl:
        for arcname, data in files:
            whl.writestr(zipfile.ZipInfo(arcname, date_time=(2020, 1, 1, 0, 0, 0)), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (arcname, digest, len(data)))
        record.append(info + "/RECORD,,")
        whl.writestr(zipfile.ZipInfo(info + "/RECORD", date_time=(2020, 1, 1, 0, 0, 0)), "\n".join(record) + "\n")
    return name


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 517: build the wheel."""
    return _write_wheel(wheel_directory, ((arc, _read(path)) for arc, path in _package_files()))


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    """PEP 660: a wheel whose .pth file puts this directory on sys.path."""
    return _write_wheel(wheel_directory, [(_dist() + ".pth", (HERE + "\n").encode("utf-8"))])


def build_sdist(sdist_directory, config_settings=None):
    """PEP 517: build the source distribution."""
    dist = _dist()
    name = dist + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tar:
        members = [(f, os.path.join(HERE, f)) for f in SDIST_FILES] + list(_package_files())
        members.append(("PKG-INFO", None))
        for arc, path in members:
            data = metadata().encode("utf-8") if path is None else _read(path)
            ti = tarfile.TarInfo("%s/%s" % (dist, arc))
            ti.size = len(data)
            ti.mode = 0o644
            tar.addfile(ti, io.BytesIO(data))
    return name
