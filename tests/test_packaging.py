"""A regular (non-editable) wheel of the project is complete: installed without the dev extra, outside the source
tree, the code location loads with every SQL model of ``dbt_like_sql/`` read from the installed package.

Installing dagster & co. into a fresh virtualenv would take minutes, so the fresh venv reuses the installed
dependencies: a ``.pth`` line names this venv's site-packages. A path line in a ``.pth`` only appends the directory
to ``sys.path``; the ``.pth`` files inside it are not processed, so this venv's editable install of the project
stays invisible (checked below, before the wheel is installed). The wheel goes into the fresh site-packages with
``pip install --target`` (which never touches this venv's installed distributions), and the distributions of the
``dev`` extra (moto, pytest, ...) are made unimportable there by a meta-path finder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

from akidb_pipelines.sql_models.project import project_graph  # the source tree's graph, in this process

ROOT = Path(__file__).resolve().parents[1]
PROJECT_MODULES = ("akidb_pipelines", "assets", "sensors", "dbt_like_sql")

# Run inside the fresh venv, cwd = a temporary directory: load the code location and report where things came from.
PROBE = r"""
import json, sys
out = {"sys_path": sys.path}
try:
    from akidb_pipelines.definitions import defs
    graph = defs().resolve_asset_graph()
except BaseException:
    import traceback
    out["error"] = traceback.format_exc()
else:
    from akidb_pipelines.sql_models.project import SQL_ROOT
    out["assets"] = {k.to_user_string(): {"checks": sorted(c.name for c in graph.get(k).check_keys),
                                          "sql_file": getattr(graph.get(k).metadata.get("sql_file"), "value",
                                                              graph.get(k).metadata.get("sql_file"))}
                     for k in graph.get_all_asset_keys()}
    out["sql_root"] = str(SQL_ROOT)
out["modules"] = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())
                  if n.split(".")[0] in {MODULES}}
out["dev_modules"] = sorted(n for n in sys.modules if n.split(".")[0] in {BLOCKED})
print("PROBE:" + json.dumps(out, default=str))
"""

# Same venv, before the wheel is installed: nothing of the project is importable, nor the dev extra.
ISOLATION_PROBE = r"""
import importlib, importlib.util, json, sys
found = {m: importlib.util.find_spec(m) is not None for m in %r}
dev = []
for m in ("moto", "pytest"):
    try:
        importlib.import_module(m)
        dev.append(m)
    except ImportError:
        pass
print("PROBE:" + json.dumps({"found": found, "dev_importable": dev, "sys_path": sys.path}))
""" % (list(PROJECT_MODULES),)

BLOCKER = '''"""Makes the distributions of the dev extra unimportable: this venv has the project without ``[dev]``."""
import sys

BLOCKED = frozenset({blocked})


class DevExtraBlocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (the dev extra is not installed)", name=name)
        return None


sys.meta_path.insert(0, DevExtraBlocker())
'''


def _dev_only_modules() -> set[str]:
    """Top-level modules of the distributions in ``[project.optional-dependencies] dev`` (moto, pytest, _pytest, ...)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.match(r"[A-Za-z0-9._-]+", r).group(0).lower().replace("_", "-")
             for r in project["optional-dependencies"]["dev"]}
    modules = {m for m, dists in packages_distributions().items()
               if any(d.lower().replace("_", "-") in names for d in dists)}
    modules |= {re.sub(r"[-.]", "_", n) for n in names}  # even if a dev distribution is missing here
    return {m for m in modules if m.isidentifier() and not m.startswith("__")}


def _run(cmd: list, cwd: Path, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


def _probe(python: Path, cwd: Path, env: dict, code: str) -> dict:
    r = _run([python, "-c", code], cwd, env, timeout=180)
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("PROBE:"))
    return json.loads(line[len("PROBE:"):])


def _under(path: str | None, root: Path) -> bool:
    return path is not None and Path(path).resolve().is_relative_to(root.resolve())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory):
    """A wheel of a clean copy of the source tree, installed into a fresh venv that sees this venv's packages but
    neither the editable install nor the dev extra. Returns (python, site-packages, work dir, env, blocked)."""
    tmp = tmp_path_factory.mktemp("packaging")
    # Build from a copy: a build in place would reuse a stale build/ or *.egg-info (whose SOURCES.txt setuptools
    # reads back), so files missing from the package data could still reach the wheel.
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=lambda d, names: [
        n for n in names if n.startswith(".") or n in ("build", "dist", "__pycache__")
        or n.endswith(".egg-info") or (Path(d) == ROOT and n == "tests")])
    wheels = tmp / "wheels"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    env |= {"PYTHONNOUSERSITE": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1",
            "AKIDB_HOME": str(tmp / "home"), "DAGSTER_HOME": str(tmp / "home" / "dagster")}
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", wheels, src], tmp, env, timeout=180)
    (wheel,) = wheels.glob("akidb_pipelines-*.whl")

    fresh = tmp / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(fresh)
    python = fresh / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp, env)
                .stdout.strip())
    ours = Path(sysconfig.get_paths()["purelib"])
    assert (ours / "dagster").is_dir(), ours
    (site / "_akidb_main_venv.pth").write_text(f"{ours}\n")
    blocked = _dev_only_modules()
    assert {"moto", "pytest"} <= blocked, blocked
    assert all(importlib.util.find_spec(m) for m in ("moto", "pytest"))  # here: hidden there by the blocker only
    (site / "_akidb_no_dev_extra.py").write_text(BLOCKER.format(blocked=sorted(blocked)))
    (site / "_akidb_no_dev_extra.pth").write_text("import _akidb_no_dev_extra\n")

    work = tmp / "work"
    work.mkdir()
    # Before the wheel: none of the project's modules is importable, so the editable install (a finder or a path
    # installed by a .pth of this venv) and the source tree are out of sight; the dev extra is blocked.
    seen = _probe(python, work, env, ISOLATION_PROBE)
    assert seen["found"] == dict.fromkeys(PROJECT_MODULES, False), seen
    assert seen["dev_importable"] == [], seen
    assert str(ours) in seen["sys_path"], seen["sys_path"]
    assert [p for p in seen["sys_path"] if p and _under(p, ROOT) and p != str(ours)] == [], seen["sys_path"]

    _run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile", "-q",
          "--target", site, wheel], tmp, env, timeout=120)
    return python, site, work, env, blocked


def _sql_models() -> dict[str, str]:
    """Asset key of every model in the source tree's dbt_like_sql/ -> its SQL file, relative to the project."""
    return {f"duckdb/{p.parent.name}/{p.stem}": p.relative_to(ROOT).as_posix()
            for p in sorted((ROOT / "dbt_like_sql").glob("*/*.sql"))}


def test_the_wheel_without_the_dev_extra_loads_every_sql_model_from_site_packages(installed):
    python, site, work, env, blocked = installed
    code = PROBE.replace("{MODULES}", repr(set(PROJECT_MODULES))).replace("{BLOCKED}", repr(blocked))
    out = _probe(python, work, env, code)
    assert "error" not in out, "the code location does not load from the wheel:\n" + out["error"]
    assert out["dev_modules"] == [], out["dev_modules"]

    # every SQL model of the source tree is an asset, read from the installed .sql file
    expected = _sql_models()
    assert {"duckdb/staging/stg_xray_spans", "duckdb/marts/golden_signals_1m"} <= set(expected)
    sql_assets = {k: v["sql_file"] for k, v in out["assets"].items() if v["sql_file"]}  # not the deps of others
    assert sql_assets == expected, f"SQL model assets from the wheel: {sorted(sql_assets)}"
    assert _under(out["sql_root"], site) and Path(out["sql_root"]).name == "dbt_like_sql", out["sql_root"]
    installed_files = {p.relative_to(site).as_posix() for p in (site / "dbt_like_sql").rglob("*")
                       if p.suffix in (".sql", ".yml")}
    source_files = {p.relative_to(ROOT).as_posix() for p in (ROOT / "dbt_like_sql").rglob("*")
                    if p.suffix in (".sql", ".yml")}
    assert installed_files == source_files

    # ... with the column tests of its schema.yml as asset checks
    tests = {f"duckdb/{m.folder}/{m.name}": sorted(t.name for t in m.tests) for m in project_graph().models.values()}
    assert any(tests.values())
    assert {k: out["assets"][k]["checks"] for k in expected} == tests, "column tests (schema.yml) differ in the wheel"

    # every module of the project came from the venv's site-packages, none from the source tree
    missing = set(PROJECT_MODULES) - {n.split(".")[0] for n in out["modules"]}
    assert not missing, f"never imported: {sorted(missing)}"
    strays = {n: f for n, f in out["modules"].items() if f and not _under(f, site)}
    assert strays == {}, f"imported from outside {site}: {strays}"


def test_akidb_chaos_without_the_dev_extra_says_in_one_line_what_to_install(installed):
    python, _site, work, env, _blocked = installed
    r = subprocess.run([python, "-m", "akidb_pipelines.cli", "chaos", "--no-publish"],
                       cwd=work, env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == [
        "akidb chaos: the local AWS sandbox needs moto, which comes with the dev extra: "
        "pip install 'akidb-pipelines[dev]'"], r.stderr


def test_every_non_python_file_of_the_packages_is_installed(installed):
    """Configs, SLO specs, scenarios, the dashboards' JS/CSS, the SQL models: the code reads them next to itself."""
    site = installed[1]

    def data_files(root: Path) -> set[str]:
        return {p.relative_to(root).as_posix() for m in PROJECT_MODULES for p in (root / m).rglob("*")
                if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}

    assert data_files(ROOT) - data_files(site) == set()
