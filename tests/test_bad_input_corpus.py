"""Issue 10, point 10: a table-driven corpus of bad input.

Every case states its input, the expected exit status (or exception type, for the
Python API) and a fragment of the message that names the place (``FILE:LINE``, key,
parameter, strategy, cell, ...). For the command line, each case also checks that no
traceback is printed, that an error is the one line ``hta-sim: error: ...`` and that
the folder holds exactly what it held before (no result, no half-written or hidden
staging folder, no lock). The command line is called in process (``main()``), as the
other experiment tests do; the faults (SIGKILL, SIGINT, concurrent runs, read-only
output, a full disk) run real processes under ``@pytest.mark.slow``.

Categories: ``cli`` (arguments), ``toml`` (syntax), ``keys``, ``types``, ``ranges``,
``model`` (model names and builders), ``paths``, ``names`` (parameter names against the
model), ``csv`` and ``xlsx`` (parameter tables), ``api`` (the Python API) and
``fault``. :func:`test_corpus_size` keeps the count honest.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from exp_helpers import HIV_TABLE, ROOT, result_like

import sim
from sim.errors import HtaError
from sim.experiment.cli import main

CORPUS = Path(__file__).resolve().parent / "corpus"
sys.path.insert(0, str(CORPUS))
import corpus_builders as B  # noqa: E402

HEAD = 'model = "hiv_chancellor"\nparameters = "hiv.csv"\nseed = 1\noutput = "out"\n'  # lines 1-4
TINY = 'model = "corpus_builders:tiny"\nparameters = "t.csv"\nseed = 1\noutput = "out"\n'
PSA = "\n[psa]\ndraws = 10\n"
COLS = "name,value,distribution,args,group,source\n"


@dataclass(frozen=True)
class Cli:
    """A command-line case: files written into an empty folder, then ``hta-sim ARGV`` run there.

    ``toml`` is the experiment file ``e.toml`` (str, bytes, or None for none); ``files``
    more files (name, str or bytes); ``code`` the exit status; ``fragment`` a part of
    stderr that names the place; ``one_line``: stderr is the one line ``hta-sim: error:``
    (argparse's usage errors print the usage first).
    """

    id: str
    category: str
    toml: str | bytes | None
    code: int
    fragment: str
    argv: tuple = ("validate", "e.toml")
    files: tuple = ()
    one_line: bool = True


def V(id, category, toml, fragment, files=(), code=2):
    """``hta-sim validate e.toml`` fails with exit 2 and ``fragment``."""
    return Cli(id, category, toml, code, fragment, files=files)


def R(id, category, toml, fragment, files=(), code=2, extra=()):
    """``hta-sim run e.toml --quiet`` fails with ``fragment``, leaving nothing behind."""
    return Cli(id, category, toml, code, fragment, argv=("run", "e.toml", "--quiet", *extra), files=files)


def T(id, category, text, fragment, name="t.csv"):
    """``hta-sim validate t.csv`` of a parameter table fails with ``fragment``."""
    return Cli(id, category, None, 2, fragment, argv=("validate", name), files=((name, text),))


# ---------------------------------------------------------------------------- the command line
CLI_CASES = [
    Cli("no-command", "cli", None, 2, "the following arguments are required", argv=(), one_line=False),
    Cli("unknown-command", "cli", None, 2, "invalid choice: 'sweep'", argv=("sweep", "e.toml"), one_line=False),
    Cli("unknown-flag", "cli", HEAD, 2, "unrecognized arguments: --fast", argv=("run", "e.toml", "--fast"),
        one_line=False),
    Cli("workers-zero", "cli", HEAD, 2, "--workers 0: give a number of processes >= 1",
        argv=("run", "e.toml", "--workers", "0"), one_line=False),
    Cli("workers-text", "cli", HEAD, 2, "argument --workers: invalid int value: 'two'",
        argv=("run", "e.toml", "--workers", "two"), one_line=False),
    Cli("effect-bad", "cli", None, 2, "argument --effect: invalid choice: 'qualy'",
        argv=("run", "hiv_chancellor", "--effect", "qualy"), one_line=False),
    Cli("validate-no-file", "cli", None, 2, "the following arguments are required: file", argv=("validate",),
        one_line=False),
    Cli("run-no-target", "cli", None, 2, "hta-sim run", argv=("run",)),
    Cli("run-missing-file", "cli", None, 2, "nope.toml", argv=("run", "nope.toml")),
    Cli("validate-missing-file", "cli", None, 2, "nope.toml", argv=("validate", "nope.toml")),
    Cli("validate-missing-table", "cli", None, 2, "parameter table 'nope.csv' not found",
        argv=("validate", "nope.csv")),
    Cli("run-folder-as-file", "cli", None, 2, "is a folder", argv=("run", "sub.toml"), files=(("sub.toml/x", ""),)),
    Cli("run-unknown-model", "cli", None, 2, "did you mean 'hiv_chancellor'", argv=("run", "hiv_chancelor")),
    Cli("info-unknown-model", "cli", None, 2, "did you mean 'thr_briggs'", argv=("info", "thr_brigs")),
    Cli("info-no-model", "cli", None, 2, "the following arguments are required: model", argv=("info",),
        one_line=False),
    Cli("repeat-missing-manifest", "cli", None, 2, "nope.json", argv=("run", "--repeat", "nope.json")),
    Cli("repeat-not-json", "cli", None, 2, "m.json", argv=("run", "--repeat", "m.json"), files=(("m.json", "{oops"),)),
    Cli("repeat-not-a-manifest", "cli", None, 2, "m.json", argv=("run", "--repeat", "m.json"),
        files=(("m.json", "[1, 2]"),)),
    Cli("repeat-with-target", "cli", HEAD, 2, "takes no experiment file",
        argv=("run", "e.toml", "--repeat", "m.json"), files=(("m.json", "{}"),)),
    Cli("run-python-file", "cli", None, 2, "x.py", argv=("run", "x.py"), files=(("x.py", "print('hi')\n"),)),
    Cli("output-is-a-file", "cli", HEAD, 2, "out", argv=("run", "e.toml", "--quiet"), files=(("out", "notes\n"),)),
    Cli("output-flag-holds-inputs", "cli", HEAD, 2, "e.toml", argv=("run", "e.toml", "--quiet", "--output", ".")),
]

# ---------------------------------------------------------------------------- experiment files: TOML syntax
TOML_CASES = [
    V("unclosed-string", "toml", HEAD + 'title = "abc\n', "e.toml:5:"),
    V("missing-value", "toml", HEAD + "title =\n", "e.toml:5:"),
    V("duplicate-key", "toml", HEAD + "seed = 2\n", "e.toml:5:"),
    V("unclosed-table-header", "toml", HEAD + "[psa\ndraws = 10\n", "e.toml:5:"),
    V("duplicate-table", "toml", HEAD + "[psa]\ndraws = 10\n[psa]\ndraws = 20\n", "e.toml:7:"),
    V("bare-word-value", "toml", HEAD + "effect = ly\n", "e.toml:5:"),
    V("trailing-comma-inline-table", "toml", HEAD + "execution = {scheduler = \"tcp://x:1\",}\n", "e.toml:5:"),
    V("not-utf8", "toml", HEAD.encode() + b'title = "caf\xe9"\n', "e.toml:5: not UTF-8 text (byte 0xe9)"),
    V("utf16", "toml", HEAD.encode("utf-16"), "e.toml:1: not UTF-8 text (byte 0xff)"),
    V("binary-garbage", "toml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "e.toml:1: not UTF-8 text"),
    V("empty-file", "toml", "", "e.toml:1: missing key 'model' (text)"),
    V("only-comments", "toml", "# nothing here\n", "model"),
    V("deep-nesting", "toml", HEAD + "x = " + "[" * 5000 + "]" * 5000 + "\n", "e.toml"),
    V("nested-tables-too-deep", "toml", HEAD + "[a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r]\nx = 1\n", "e.toml"),
    V("array-of-tables-for-psa", "toml", HEAD + "[[psa]]\ndraws = 10\n", "e.toml:5:"),
    V("key-with-space", "toml", HEAD + "my seed = 3\n", "e.toml:5:"),
]

# ---------------------------------------------------------------------------- experiment files: keys
KEY_CASES = [
    V("misspelt-top-key", "keys", HEAD + "titel = \"x\"\n", "did you mean 'title'"),
    V("misspelt-seed", "keys", HEAD.replace("seed = 1", "seeed = 1"),
      "e.toml:3: unknown key 'seeed'; did you mean 'seed'?"),
    V("missing-seed", "keys", HEAD.replace("seed = 1\n", ""), "seed"),
    V("missing-model", "keys", HEAD.replace('model = "hiv_chancellor"\n', ""), "model"),
    V("unknown-table", "keys", HEAD + "[psaa]\ndraws = 10\n", "did you mean 'psa'"),
    V("unknown-psa-key", "keys", HEAD + "[psa]\ndraws = 10\nseed = 3\n", "e.toml:7:"),
    V("unknown-wtp-key", "keys", HEAD + "[wtp]\nmaxx = 5\n", "did you mean 'max'"),
    V("unknown-one-way-key", "keys", HEAD + PSA + "[one_way]\nparameter = [\"rr\"]\n", "did you mean 'parameters'"),
    V("unknown-two-way-key", "keys", HEAD + "[two_way]\nx = \"rr\"\nx_values = [0.4]\ny = \"c_dm_A\"\n"
      "y_values = [1000]\nz = 1\n", "e.toml:10:"),
    V("unknown-threshold-key", "keys", HEAD + "[[threshold]]\nparameter = \"rr\"\nlower = 0.1\nupper = 0.9\n"
      "upper_bound = 2\n", "e.toml:9:"),
    V("unknown-execution-key", "keys", HEAD + "execution = {host = \"x\"}\n",
      "e.toml:5: unknown key 'execution.host' (valid keys: scheduler); execution.scheduler is required"),
    V("missing-draws", "keys", HEAD + "[psa]\nmethod = \"mc\"\n", "draws"),
    V("two-way-missing-y", "keys", HEAD + "[two_way]\nx = \"rr\"\nx_values = [0.4, 0.5]\n", "e.toml:5:"),
    V("threshold-missing-upper", "keys", HEAD + "[[threshold]]\nparameter = \"rr\"\nlower = 0.1\n", "upper"),
    V("evppi-missing-groups", "keys", HEAD + PSA + "[evppi]\nmethod = \"gam\"\n", "groups"),
    V("evppi-without-psa", "keys", HEAD + "[evppi]\ngroups = [\"rr\"]\n", "e.toml:5:"),
    V("sweep-empty", "keys", HEAD + PSA + "[sweep]\ndraws = 10\n", "e.toml:8:"),
    V("sweep-grid-and-scenarios", "keys", HEAD + PSA + "[sweep.grid]\nrr = [0.4, 0.5]\n[[sweep.scenarios]]\n"
      "rr = 0.4\n", "e.toml:8: a sweep needs either [sweep.grid]"),
    V("sweep-without-draws", "keys", HEAD + "[sweep.grid]\nrr = [0.4, 0.5]\n", "e.toml:5: a sweep runs a PSA"),
    V("wtp-values-and-min", "keys", HEAD + "[wtp]\nvalues = [1000]\nmin = 0\n", "not both"),
]

# ---------------------------------------------------------------------------- experiment files: types
TYPE_CASES = [
    V("seed-float", "types", HEAD.replace("seed = 1", "seed = 1.5"), "e.toml:3:"),
    V("seed-string", "types", HEAD.replace("seed = 1", 'seed = "1"'), "e.toml:3:"),
    V("seed-bool", "types", HEAD.replace("seed = 1", "seed = true"), "e.toml:3:"),
    V("seed-date", "types", HEAD.replace("seed = 1", "seed = 1979-05-27"), "e.toml:3:"),
    V("model-number", "types", HEAD.replace('"hiv_chancellor"', "3"), "e.toml:1:"),
    V("parameters-number", "types", HEAD.replace('"hiv.csv"', "5"), "e.toml:2:"),
    V("output-number", "types", HEAD.replace('"out"', "5"), "e.toml:4:"),
    V("title-number", "types", HEAD + "title = 3\n", "e.toml:5:"),
    V("workers-string", "types", HEAD + 'workers = "2"\n', "e.toml:5:"),
    V("execution-number", "types", HEAD + "execution = 3\n", "e.toml:5:"),
    V("scheduler-number", "types", HEAD + "execution = {scheduler = 5}\n", "e.toml:5:"),
    V("scenario-not-table", "types", HEAD + "scenario = 3\n", "e.toml:5:"),
    V("scenario-string", "types", HEAD + "[scenario]\nrr = \"x\"\n", "e.toml:6:"),
    V("scenario-array", "types", HEAD + "[scenario]\nrr = [0.4]\n", "e.toml:6:"),
    V("wtp-max-string", "types", HEAD + "[wtp]\nmax = \"lots\"\n", "e.toml:6:"),
    V("wtp-values-mixed", "types", HEAD + "[wtp]\nvalues = [1, \"a\"]\n", "item 2"),
    V("base-case-run-string", "types", HEAD + "[base_case]\nrun = \"yes\"\n", "e.toml:6:"),
    V("base-case-run-int", "types", HEAD + "[base_case]\nrun = 1\n", "e.toml:6:"),
    V("psa-not-table", "types", HEAD + "psa = 5\n", "e.toml:5:"),
    V("draws-float", "types", HEAD + "[psa]\ndraws = 2.5\n", "e.toml:6:"),
    V("draws-string", "types", HEAD + "[psa]\ndraws = \"100\"\n", "e.toml:6:"),
    V("chunk-float", "types", HEAD + "[psa]\ndraws = 10\nchunk = 1.5\n", "e.toml:7:"),
    V("one-way-parameters-string", "types", HEAD + PSA + "[one_way]\nparameters = \"rr\"\n", "e.toml:9:"),
    V("one-way-range-string", "types", HEAD + PSA + "[one_way]\nranges = {rr = \"0.4-0.6\"}\n", "e.toml:9:"),
    V("two-way-values-strings", "types", HEAD + "[two_way]\nx = \"rr\"\nx_values = [\"a\"]\ny = \"c_dm_A\"\n"
      "y_values = [1000]\n", "e.toml:7:"),
    V("threshold-lower-string", "types", HEAD + "[[threshold]]\nparameter = \"rr\"\nlower = \"0\"\nupper = 1\n",
      "e.toml:7:"),
    V("evpi-run-string", "types", HEAD + PSA + "[evpi]\nrun = \"no\"\n", "e.toml:9:"),
    V("evppi-group-number", "types", HEAD + PSA + "[evppi]\ngroups = [1]\n", "e.toml:9:"),
    V("sweep-grid-scalar", "types", HEAD + PSA + "[sweep.grid]\nrr = 0.5\n", "e.toml:9:"),
    V("sweep-scenario-name-number", "types", HEAD + PSA + "[[sweep.scenarios]]\nname = 5\nrr = 0.4\n", "e.toml:9:"),
    V("utility-max-string", "types", HEAD + 'utility_max = "nope"\n', "e.toml:5: utility_max 'nope'"),
    V("utility-max-bool", "types", HEAD + "utility_max = true\n", "e.toml:5:"),
    V("defaults-number", "types", HEAD + "defaults = 1\n", "e.toml:5:"),
]

# ---------------------------------------------------------------------------- experiment files: values out of range
RANGE_CASES = [
    V("seed-negative", "ranges", HEAD.replace("seed = 1", "seed = -1"), "e.toml:3:"),
    V("workers-zero", "ranges", HEAD + "workers = 0\n", "e.toml:5:"),
    V("effect-misspelt", "ranges", HEAD + 'effect = "qualy"\n', "did you mean 'qaly'"),
    V("defaults-other", "ranges", HEAD + 'defaults = "yes"\n', "e.toml:5:"),
    V("execution-misspelt", "ranges", HEAD + 'execution = "locl"\n', "did you mean 'local'"),
    V("utility-max-zero", "ranges", HEAD + "utility_max = 0\n", "e.toml:5: utility_max 0.0 must be > 0"),
    V("utility-max-negative", "ranges", HEAD + "utility_max = -1\n", "e.toml:5:"),
    V("utility-max-nan", "ranges", HEAD + "utility_max = nan\n", "e.toml:5:"),
    V("draws-one", "ranges", HEAD + "[psa]\ndraws = 1\n", "e.toml:6:"),
    V("draws-zero", "ranges", HEAD + "[psa]\ndraws = 0\n", "e.toml:6:"),
    V("draws-negative", "ranges", HEAD + "[psa]\ndraws = -5\n", "e.toml:6:"),
    V("draws-huge", "ranges", HEAD + "[psa]\ndraws = 1000000000000000\n", "above the memory limit"),
    V("method-misspelt", "ranges", HEAD + "[psa]\ndraws = 10\nmethod = \"sobel\"\n", "did you mean 'sobol'"),
    V("chunk-zero", "ranges", HEAD + "[psa]\ndraws = 10\nchunk = 0\n", "e.toml:7:"),
    V("wtp-min-negative", "ranges", HEAD + "[wtp]\nmin = -5\n", "e.toml:6:"),
    V("wtp-step-zero", "ranges", HEAD + "[wtp]\nstep = 0\n", "e.toml:6:"),
    V("wtp-max-below-min", "ranges", HEAD + "[wtp]\nmin = 100\nmax = 10\n", "e.toml"),
    V("wtp-values-negative", "ranges", HEAD + "[wtp]\nvalues = [-1, 5]\n", "e.toml:6:"),
    V("wtp-values-empty", "ranges", HEAD + "[wtp]\nvalues = []\n", "e.toml:6:"),
    V("wtp-threshold-negative", "ranges", HEAD + "[wtp]\nthreshold = -1\n", "e.toml:6:"),
    V("wtp-huge-grid", "ranges", HEAD + "[wtp]\nmax = 1e12\nstep = 1\n", "e.toml"),
    V("discount-percent", "ranges", HEAD + "[scenario]\ndiscount_costs = 3.5\n", "did you mean 0.035?"),
    V("discount-negative", "ranges", HEAD + "[scenario]\ndiscount_outcomes = -0.1\n", "e.toml:6:"),
    V("discount-huge", "ranges", HEAD + "[scenario]\ndiscount_outcomes = 1e308\n", "e.toml:6:"),
    V("scenario-nan", "ranges", HEAD + "[scenario]\nrr = nan\n", "e.toml:6:"),
    V("scenario-inf", "ranges", HEAD + "[scenario]\nrr = inf\n", "e.toml:6:"),
    V("start-age-no-age", "ranges", HEAD + "[scenario]\nstart_age = 60\n", "does not apply to model 'hiv_chancellor'"),
    V("one-way-range-one-value", "ranges", HEAD + PSA + "[one_way]\nranges = {rr = [0.6]}\n", "e.toml:9:"),
    V("one-way-range-reversed", "ranges", HEAD + PSA + "[one_way]\nranges = {rr = [0.6, 0.4]}\n", "e.toml:9:"),
    V("one-way-outcome", "ranges", HEAD + PSA + "[one_way]\noutcome = \"profit\"\n", "e.toml:9:"),
    V("one-way-parameters-empty", "ranges", HEAD + PSA + "[one_way]\nparameters = []\n", "e.toml:9:"),
    V("one-way-fixed-parameter", "ranges", HEAD + PSA + "[one_way]\nparameters = [\"c_zidovudine\"]\n",
      "no 95 % interval"),
    V("two-way-values-empty", "ranges", HEAD + "[two_way]\nx = \"rr\"\nx_values = []\ny = \"c_dm_A\"\n"
      "y_values = [1000]\n", "e.toml:7:"),
    V("threshold-bracket-reversed", "ranges", HEAD + "[[threshold]]\nparameter = \"rr\"\nlower = 0.9\nupper = 0.1\n",
      "e.toml"),
    V("evppi-method", "ranges", HEAD + PSA + "[evppi]\ngroups = [\"rr\"]\nmethod = \"glm\"\n", "e.toml:10:"),
    V("evppi-groups-empty", "ranges", HEAD + PSA + "[evppi]\ngroups = []\n", "e.toml:9:"),
    V("sweep-draws-one", "ranges", HEAD + PSA + "[sweep]\ndraws = 1\n[sweep.grid]\nrr = [0.4, 0.5]\n", "e.toml:9:"),
    V("sweep-grid-empty-list", "ranges", HEAD + PSA + "[sweep.grid]\nrr = []\n", "e.toml:9:"),
    V("sweep-discount-percent", "ranges", HEAD + PSA + "[sweep.grid]\ndiscount_costs = [0.03, 5]\n",
      "did you mean 0.05?"),
    V("sweep-huge-grid", "ranges", HEAD + PSA + "[sweep.grid]\n" + "".join(
        f"{n} = [{', '.join(str(100 + i) for i in range(40))}]\n" for n in ("c_dm_A", "c_dm_B", "c_dm_C", "c_cc_A")),
      "e.toml"),
    V("dirichlet-member-alone", "ranges", HEAD + "[scenario]\np_AB = 0.3\n", "cannot be set alone"),
]

# ---------------------------------------------------------------------------- experiment files: models and builders
MODEL_CASES = [
    V("model-empty", "model", HEAD.replace('"hiv_chancellor"', '""'), "e.toml:1:"),
    V("model-unknown", "model", HEAD.replace('"hiv_chancellor"', '"no_such_model"'), "e.toml:1:"),
    V("model-misspelt", "model", HEAD.replace('"hiv_chancellor"', '"hiv_chancelor"'), "did you mean 'hiv_chancellor'"),
    V("model-os-system", "model", HEAD.replace('"hiv_chancellor"', '"os:system"'), "standard library"),
    V("model-subprocess", "model", HEAD.replace('"hiv_chancellor"', '"subprocess:run"'), "standard library"),
    V("model-this", "model", HEAD.replace('"hiv_chancellor"', '"this:x"'), "it was not imported"),
    V("model-builtins-eval", "model", HEAD.replace('"hiv_chancellor"', '"builtins:eval"'), "e.toml:1:"),
    V("model-no-module", "model", HEAD.replace('"hiv_chancellor"', '"no_such_pkg_xyz:build"'), "cannot import"),
    V("model-three-colons", "model", HEAD.replace('"hiv_chancellor"', '"a:b:c"'), "e.toml:1:"),
    V("model-path-like", "model", HEAD.replace('"hiv_chancellor"', '"../evil.py"'), "e.toml:1:"),
    V("model-no-function", "model", TINY.replace("corpus_builders:tiny", "corpus_builders:tinny"),
      "did you mean 'tiny'"),
    V("model-undeclared", "model", TINY.replace("corpus_builders:tiny", "corpus_builders:undeclared"),
      "is not declared a model builder"),
    V("model-not-a-model", "model", TINY.replace("corpus_builders:tiny", "corpus_builders:not_a_model"),
      "not a sim.Model"),
    V("model-builder-refuses", "model", TINY.replace("corpus_builders:tiny", "corpus_builders:refuses"),
      "p_sick must be below 0.5"),
    V("model-sim-internal", "model", HEAD.replace('"hiv_chancellor"', '"sim.experiment.cli:main"'),
      "is not declared a model builder"),
    V("model-ready-needs-no-table", "model", 'model = "corpus_builders:tiny"\nseed = 1\n', "is not a ready model"),
]

# ---------------------------------------------------------------------------- experiment files: paths and output
PATH_CASES = [
    V("table-missing", "paths", HEAD.replace("hiv.csv", "nope.csv"), "e.toml:2: parameter table"),
    V("table-folder", "paths", HEAD.replace("hiv.csv", "."), "is a folder"),
    V("table-absolute-missing", "paths", HEAD.replace("hiv.csv", "/nonexistent/t.csv"), "e.toml:2:"),
    V("table-is-toml", "paths", HEAD.replace("hiv.csv", "e.toml"), "e.toml"),
    V("table-xlsx-is-text", "paths", HEAD.replace("hiv.csv", "t.xlsx"), "cannot read as Excel",
      files=(("t.xlsx", "name,value\n"),)),
    V("table-xlsx-is-csv-bytes", "paths", HEAD.replace("hiv.csv", "t.xlsx"), "not an .xlsx workbook",
      files=(("t.xlsx", HIV_TABLE.read_bytes()),)),
    R("output-holds-experiment", "paths", HEAD.replace('"out"', '"."'), "e.toml"),
    R("output-parent-holds-inputs", "paths", HEAD.replace('"out"', '".."'), "e.toml",
      files=()),
    R("output-holds-user-files", "paths", HEAD, "notes.txt", files=(("out/notes.txt", "mine\n"),)),
    R("output-is-a-file", "paths", HEAD, "out", files=(("out", "a file\n"),)),
]

# ---------------------------------------------------------------------------- parameter names against the model
def _hiv_without(name: str) -> str:
    return "".join(ln for ln in HIV_TABLE.read_text().splitlines(keepends=True) if not ln.startswith(name + ","))


def _hiv_renamed(old: str, new: str) -> str:
    return "".join((new + ln[len(old):]) if ln.startswith(old + ",") else ln
                   for ln in HIV_TABLE.read_text().splitlines(keepends=True))


def _hiv_plus(row: str) -> str:
    return HIV_TABLE.read_text().rstrip("\n") + "\n" + row + "\n"


NAME_CASES = [
    V("table-misspelt-row", "names", HEAD, "did you mean 'c_lamivudine'",
      files=(("hiv.csv", _hiv_renamed("c_lamivudine", "c_lamivudne")),)),
    V("table-misspelt-random-row", "names", HEAD, "did you mean 'rr'", files=(("hiv.csv", _hiv_renamed("rr", "rrr")),)),
    V("table-missing-row", "names", HEAD, "lacks 1 parameter(s)", files=(("hiv.csv", _hiv_without("comb_years")),)),
    V("table-missing-two-rows-listed", "names", HEAD, "c_zidovudine, c_lamivudine",
      files=(("hiv.csv", "".join(ln for ln in _hiv_without("c_zidovudine").splitlines(keepends=True)
                                  if not ln.startswith("c_lamivudine,"))),)),
    V("table-extra-row", "names", HEAD, "'discount'", files=(("hiv.csv", _hiv_plus("discount,0.035,fixed,,,,,x")),)),
    V("table-duplicate-row", "names", HEAD, "duplicate parameter name 'rr'",
      files=(("hiv.csv", _hiv_plus("rr,0.5,fixed,,,,,x")),)),
    V("scenario-misspelt", "names", HEAD + "[scenario]\nc_lamivudne = 2000\n", "e.toml:6:"),
    V("one-way-misspelt", "names", HEAD + PSA + "[one_way]\nparameters = [\"rrr\"]\n", "did you mean 'rr'"),
    V("one-way-range-misspelt", "names", HEAD + PSA + "[one_way]\nranges = {rrr = [0.4, 0.6]}\n", "e.toml:9:"),
    V("one-way-strategy", "names", HEAD + PSA + "[one_way]\nstrategy = \"combo\"\n", "e.toml:9:"),
    V("two-way-misspelt", "names", HEAD + "[two_way]\nx = \"rrr\"\nx_values = [0.4]\ny = \"c_dm_A\"\n"
      "y_values = [1000]\n", "e.toml:6:"),
    V("threshold-misspelt", "names", HEAD + "[[threshold]]\nparameter = \"c_lamivudne\"\nlower = 0\nupper = 9\n",
      "did you mean 'c_lamivudine'"),
    V("threshold-comparator", "names", HEAD + "[[threshold]]\nparameter = \"rr\"\nlower = 0\nupper = 1\n"
      "comparator = \"X\"\n", "e.toml:9:"),
    V("evppi-misspelt", "names", HEAD + PSA + "[evppi]\ngroups = [\"rrr\"]\n", "did you mean 'rr'"),
    V("sweep-misspelt", "names", HEAD + PSA + "[sweep.grid]\nc_lamivudne = [1, 2]\n", "e.toml:9:"),
    V("sweep-scenario-misspelt", "names", HEAD + PSA + "[[sweep.scenarios]]\nrrr = 0.4\n", "e.toml:9:"),
    V("tiny-table-misspelt", "names", TINY, "with t.csv failed: utility of state 'Well': unknown parameter 'u_well' "
      "(did you mean 'u_wel'?)",
      files=(("t.csv", B.TABLE.replace("u_well,", "u_wel,")),)),
    V("tiny-table-missing", "names", TINY, "with t.csv failed: utility of state 'Sick': unknown parameter 'u_sick'",
      files=(("t.csv", B.TABLE.replace("u_sick,0.6,beta,mean=0.6; se=0.05,made up for the corpus\n", "")),)),
    V("tiny-builder-keyerror", "names", TINY.replace(":tiny", ":tiny_needs"),
      "e.toml:2: model 'corpus_builders:tiny_needs' needs parameter 'u_sick', which t.csv lacks",
      files=(("t.csv", B.TABLE.replace("u_sick,0.6,beta,mean=0.6; se=0.05,made up for the corpus\n", "")),)),
    V("tiny-utility-from-table", "names", TINY, "t.csv:4: parameter 'u_well', the utility of state 'Well', is 1.5",
      files=(("t.csv", B.TABLE.replace("u_well,0.9,beta,mean=0.9; se=0.02", "u_well,1.5,fixed,")),)),
    V("tiny-utility-from-scenario", "names", TINY + "[scenario]\nu_sick = 2.5\n", "e.toml:6: parameter 'u_sick'"),
    V("tiny-utility-below-own-bound", "names", "utility_max = 0.8\n" + TINY, "t.csv:4:"),
    V("tiny-utility-normal-draws", "names", TINY + PSA, "t.csv:4: parameter 'u_well', the utility of state 'Well', "
      "has a normal distribution, which draws values above 1",
      files=(("t.csv", B.TABLE.replace("u_well,0.9,beta,mean=0.9; se=0.02", "u_well,0.95,normal,mean=0.95; sd=0.1")),)),
    V("scenario-probability-out-of-range", "names", HEAD + "[scenario]\nrr = 2.5\n",
      "e.toml:6: rr = 2.5 makes the base case fail: strategy 'comb', cycle 0, from 'B' to 'C': transition "
      "probability 1.01749 is above 1"),
    V("scenario-utility-negative-cost", "names", TINY + "[scenario]\np_sick = -0.2\n",
      "e.toml:6: p_sick = -0.2 makes the base case fail: strategy 'a'"),
]

# ---------------------------------------------------------------------------- the same refused by `run`: nothing left
RUN_CASES = [
    R("run-" + c.id, c.category, c.toml, c.fragment, files=c.files)
    for c in TOML_CASES[:3] + KEY_CASES[:2] + TYPE_CASES[:2] + RANGE_CASES + MODEL_CASES[:6] + NAME_CASES
    if c.argv[0] == "validate" and c.id not in ("wtp-huge-grid",)
]

# ---------------------------------------------------------------------------- CSV parameter tables
GOOD_ROW = "p,0.1,beta,mean=0.1; se=0.02,,s\n"
CSV_CASES = [
    T("empty-file", "csv", "", "t.csv: cannot read as CSV: No columns"),
    T("header-only", "csv", COLS, "no parameters"),
    T("no-name-column", "csv", "value,source\n0.1,s\n", "name"),
    T("no-value-column", "csv", "name,source\np,s\n", "value"),
    T("no-source-column", "csv", "name,value\np,0.1\n", "source"),
    T("value-text", "csv", COLS + "p,abc,fixed,,,s\n", "t.csv, line 2: parameter 'p' has value 'abc'"),
    T("value-empty", "csv", COLS + "p,,fixed,,,s\n", "t.csv, line 2"),
    T("value-nan", "csv", COLS + "p,nan,fixed,,,s\n", "t.csv, line 2"),
    T("value-inf", "csv", COLS + "p,inf,fixed,,,s\n", "t.csv, line 2"),
    T("value-overflow", "csv", COLS + "p,1e400,fixed,,,s\n", "t.csv, line 2"),
    T("value-thousands", "csv", COLS + 'p,"1,000",fixed,,,s\n', "t.csv, line 2"),
    T("value-percent", "csv", COLS + "p,5%,fixed,,,s\n", "t.csv, line 2"),
    T("name-empty", "csv", COLS + ",0.1,fixed,,,s\n", "t.csv, line 2"),
    T("name-duplicate", "csv", COLS + GOOD_ROW + "q,1,fixed,,,s\np,0.2,fixed,,,s\n", "t.csv, line 4: duplicate"),
    T("source-empty", "csv", COLS + "p,0.1,fixed,,,\n", "t.csv, line 2: parameter 'p' has no source"),
    T("distribution-misspelt", "csv", COLS + "p,0.1,betta,mean=0.1; se=0.02,,s\n", "did you mean 'beta'"),
    T("distribution-unknown", "csv", COLS + "p,0.1,weird,,,s\n", "t.csv, line 2"),
    T("beta-no-args", "csv", COLS + "p,0.1,beta,,,s\n", "t.csv, line 2"),
    T("beta-mean-above-one", "csv", COLS + "p,0.1,beta,mean=1.5; se=0.1,,s\n", "t.csv, line 2"),
    T("beta-se-negative", "csv", COLS + "p,0.1,beta,mean=0.1; se=-0.1,,s\n", "t.csv, line 2"),
    T("beta-se-too-large", "csv", COLS + "p,0.1,beta,mean=0.1; se=0.5,,s\n", "t.csv, line 2"),
    T("beta-events-above-n", "csv", COLS + "p,0.1,beta,events=20; n=10,,s\n", "t.csv, line 2"),
    T("gamma-mean-negative", "csv", COLS + "c,100,gamma,mean=-100; se=10,,s\n", "t.csv, line 2"),
    T("gamma-se-zero", "csv", COLS + "c,100,gamma,mean=100; se=0,,s\n", "t.csv, line 2"),
    T("lognormal-ci-reversed", "csv", COLS + "r,0.5,lognormal,ci_low=0.7; ci_high=0.3,,s\n", "t.csv, line 2"),
    T("lognormal-ci-negative", "csv", COLS + "r,0.5,lognormal,ci_low=-0.7; ci_high=0.9,,s\n", "t.csv, line 2"),
    T("normal-sd-negative", "csv", COLS + "x,1,normal,mean=1; sd=-1,,s\n", "t.csv, line 2"),
    T("uniform-reversed", "csv", COLS + "x,1,uniform,low=2; high=1,,s\n", "t.csv, line 2"),
    T("args-not-a-number", "csv", COLS + "p,0.1,beta,mean=abc; se=0.02,,s\n", "t.csv, line 2"),
    T("args-no-equals", "csv", COLS + "p,0.1,beta,mean 0.1,,s\n", "t.csv, line 2"),
    T("args-misspelt-key", "csv", COLS + "p,0.1,beta,meen=0.1; se=0.02,,s\n", "t.csv, line 2"),
    T("args-on-fixed", "csv", COLS + "p,0.1,fixed,mean=0.1,,s\n", "t.csv, line 2"),
    T("dirichlet-no-group", "csv", COLS + "a,0.5,dirichlet,count=5,,s\nb,0.5,dirichlet,count=5,,s\n", "group"),
    T("dirichlet-sum", "csv", COLS + "a,0.5,dirichlet,count=5,g,s\nb,1.0,dirichlet,count=5,g,s\n", "sum to 1.5"),
    T("dirichlet-count-negative", "csv", COLS + "a,0.5,dirichlet,count=-5,g,s\nb,0.5,dirichlet,count=5,g,s\n",
      "t.csv, line 2"),
    T("dirichlet-one-member", "csv", COLS + "a,1.0,dirichlet,count=5,g,s\n", "t.csv"),
    T("empirical-missing-file", "csv", COLS + "x,1,empirical,file=nope.csv,g,s\n", "nope.csv"),
    T("ragged-row", "csv", COLS + "p,0.1,fixed,,,s,extra,more\n", "t.csv, line 2: 8 fields, but the header has 6"),
    T("ragged-later-row", "csv", COLS + GOOD_ROW + "c,1,000,fixed,,,s\n", "t.csv, line 3: 7 fields"),
    T("semicolon-separated", "csv", "name;value;source\np;0.1;s\n", "t.csv: missing column(s)"),
    T("latin1-bytes", "csv", (COLS + "p,0.1,fixed,,,caf\xe9\n").encode("latin-1"),
      "t.csv, line 2: not UTF-8 text (byte 0xe9); save the table as 'CSV UTF-8'"),
    T("utf16-file", "csv", (COLS + GOOD_ROW).encode("utf-16"), "t.csv, line 1: not UTF-8 text"),
    T("png-bytes", "csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "t.csv, line 1: not UTF-8 text"),
    Cli("folder-as-table", "csv", None, 2, "is a folder", argv=("validate", "d.csv"), files=(("d.csv", None),)),
]

# ---------------------------------------------------------------------------- workbooks
def _xlsx(rows, *, formula=None, corr=None, sheet="parameters", header=("name", "value", "distribution", "args",
                                                                           "group", "source")) -> bytes:
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    if header:
        ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    if formula:
        ws[formula[0]] = formula[1]
    if corr is not None:
        wc = wb.create_sheet("correlations")
        wc.append(["param_a", "param_b", "rho"])
        for r in corr:
            wc.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


XROWS = [("p_sick", 0.1, "beta", "mean=0.1; se=0.02", "", "made up"), ("c_drug", 500, "gamma", "mean=500; se=50", "",
                                                                        "made up"),
         ("u_well", 0.9, "beta", "mean=0.9; se=0.02", "", "made up"), ("u_sick", 0.6, "beta", "mean=0.6; se=0.05", "",
                                                                       "made up")]


def X(id, fragment, **kw):
    """``hta-sim validate t.xlsx`` of a workbook fails with ``fragment``."""
    rows = kw.pop("rows", XROWS)
    return Cli(id, "xlsx", None, 2, fragment, argv=("validate", "t.xlsx"),
               files=(("t.xlsx", lambda: _xlsx(rows, **kw)),))


XLSX_CASES = [
    X("formula-value", "cell B3: holds the formula '=B2*2'", formula=("B3", "=B2*2")),
    X("formula-source", "cell F2: holds the formula", formula=("F2", '=HYPERLINK("http://x","click")')),
    X("value-text", "line 2: parameter 'p_sick' has value 'abc'", rows=[("p_sick", "abc", "", "", "", "s")]),
    X("no-source", "no source", rows=[("p_sick", 0.1, "", "", "", "")]),
    X("duplicate", "line 3: duplicate parameter name 'p_sick'", rows=[XROWS[0], XROWS[0]]),
    X("empty-sheet", "t.xlsx", rows=[], header=None),
    X("header-only", "no parameters", rows=[]),
    X("correlation-unknown", "t.xlsx: correlation names unknown parameter 'c_drugg' (did you mean 'c_drug'?)",
      corr=[("p_sick", "c_drugg", 0.3)]),
    X("correlation-above-one", "t.xlsx: rank correlation of 'p_sick' and 'c_drug' is 1.5",
      corr=[("p_sick", "c_drug", 1.5)]),
    X("correlation-formula", "sheet 'correlations', cell C2", corr=[("p_sick", "c_drug", "=0.1*3")]),
    X("dirichlet-sum", "sum to", rows=[("a", 0.5, "dirichlet", "count=5", "g", "s"),
                                       ("b", 0.9, "dirichlet", "count=5", "g", "s")]),
    Cli("utility-from-workbook", "xlsx", TINY.replace("t.csv", "t.xlsx"), 2,
        "t.xlsx, sheet 'parameters', cell B4: parameter 'u_well', the utility of state 'Well', is 1.5",
        files=(("t.xlsx", lambda: _xlsx([XROWS[0], XROWS[1], ("u_well", 1.5, "", "", "", "s"), XROWS[3]])),)),
    Cli("workbook-misspelt-row", "xlsx", TINY.replace("t.csv", "t.xlsx"), 2, "with t.xlsx failed: cost 'drug' of "
        "state 'Well': unknown parameter 'c_drug' (did you mean 'c_drg'?)",
        files=(("t.xlsx", lambda: _xlsx([XROWS[0], ("c_drg",) + XROWS[1][1:], *XROWS[2:]])),)),
]

CLI_ALL = CLI_CASES + TOML_CASES + KEY_CASES + TYPE_CASES + RANGE_CASES + MODEL_CASES + PATH_CASES + NAME_CASES \
    + CSV_CASES + XLSX_CASES + RUN_CASES


def _snapshot(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if "__pycache__" not in p.parts}


@pytest.mark.parametrize("case", CLI_ALL, ids=[f"{c.category}-{c.id}" for c in CLI_ALL])
def test_cli_case(case: Cli, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    shutil.copy(HIV_TABLE, tmp_path / "hiv.csv")
    (tmp_path / "t.csv").write_text(B.TABLE)
    for name, content in case.files:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        content = content() if callable(content) else content
        if content is None:  # a folder where a file is expected
            path.mkdir()
            continue
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    if case.toml is not None:
        f = tmp_path / "e.toml"
        (f.write_bytes if isinstance(case.toml, bytes) else f.write_text)(case.toml)
    before = _snapshot(tmp_path)
    B.CALLED.clear()
    try:
        code = main(list(case.argv))
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert code == case.code, (out, err)
    assert case.fragment in err, err
    assert "Traceback" not in err + out, err
    if case.one_line:
        assert err.startswith("hta-sim: error: ") and err.count("\n") == 1, err
    assert "Beautiful is better than ugly" not in out and "this" not in sys.modules  # never imported
    assert "undeclared" not in B.CALLED
    assert _snapshot(tmp_path) == before  # nothing written: no result, no staging folder, no lock


# ---------------------------------------------------------------------------- the Python API
def _model(**kw):
    return B._tiny(dict(p_sick=0.1, c_drug=500.0, u_well=0.9, u_sick=0.6), **kw)


def _table(text: str = B.TABLE):
    import io

    return sim.ParameterTable.from_frame(pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False),
                                         label="corpus table")


def _partial():
    return _table(B.TABLE.replace("u_sick,0.6,beta,mean=0.6; se=0.05,made up for the corpus\n", ""))


def _extra():
    return _table(B.TABLE + "u_sik,0.5,fixed,,made up\n")


def _pathway(**kw):
    from sim.patient import Event, Exponential, Pathway

    spec = dict(states=("Well", "Dead"), start="Well", events={"Well": [Event("Dead", Exponential(0.1))]},
                horizon=20.0, costs={"Well": 100.0}, utilities={"Well": 0.8}, dead=("Dead",))
    spec.update(kw)
    return Pathway(**spec)


def _patient_build(p):
    return {"a": _pathway(costs={"Well": p["c_well"]}), "b": _pathway(costs={"Well": p["c_well"] + p["c_extra"]})}


PBASE = {"c_well": 100.0, "c_extra": 50.0}
C2 = np.array([[1.0, 2.0], [1.5, 2.5], [1.2, 2.2]])
E2 = np.array([[1.0, 1.1], [1.0, 1.2], [1.0, 1.05]])


def _api(id, call, exc, fragment):
    return pytest.param(call, exc, fragment, id=id)


def _psa(table, **kw):
    return sim.run_psa(_model(), table, 20, 1, **kw)


API_CASES = [
    # run_cohort
    _api("cohort-not-a-model", lambda: sim.run_cohort("model"), HtaError, "run_cohort needs a Model, got str"),
    _api("cohort-misspelt-param", lambda: sim.run_cohort(_model(), {"p_sik": 0.1}), HtaError, "did you mean 'p_sick'"),
    _api("cohort-text-value", lambda: sim.run_cohort(_model(), {"p_sick": "a"}), HtaError, "parameter 'p_sick'"),
    _api("cohort-nan-value", lambda: sim.run_cohort(_model(), {"p_sick": np.nan}), HtaError, "not a finite number"),
    _api("cohort-unequal-draws", lambda: sim.run_cohort(_model(), {"p_sick": [0.1, 0.2], "c_drug": [1.0, 2, 3]}),
         HtaError, "same number of draws"),
    _api("cohort-2d-draws", lambda: sim.run_cohort(_model(), {"p_sick": np.full((2, 2), 0.1)}), HtaError, "1-D"),
    _api("cohort-no-draws", lambda: sim.run_cohort(_model(), {"p_sick": []}), HtaError, "0 draws"),
    _api("cohort-params-number", lambda: sim.run_cohort(_model(), 5), HtaError, "params must be None"),
    _api("cohort-draws-lack", lambda: sim.run_cohort(_model(), _partial().draw(5, 1)), HtaError,
         "run_cohort: 1 parameter(s) of model 'tiny' missing from the draws: u_sick"),
    _api("cohort-table-lacks", lambda: sim.run_cohort(_model(), _partial()), HtaError,
         "missing from corpus table: u_sick"),
    _api("cohort-table-extra", lambda: sim.run_cohort(_model(), _extra()), HtaError, "did you mean 'u_sick'"),
    _api("cohort-draws-extra", lambda: sim.run_cohort(_model(), _extra().draw(5, 1)), HtaError, "'u_sik'"),
    _api("cohort-defaults-bad", lambda: sim.run_cohort(_model(), defaults="yes"), HtaError, "defaults='yes'"),
    _api("cohort-probability-above-one", lambda: sim.run_cohort(_model(), {"p_sick": 1.5}), HtaError,
         "strategy 'a'"),
    _api("cohort-utility-above-one", lambda: sim.run_cohort(_model(), {"u_well": 1.5}), HtaError,
         "utility of state 'Well'"),
    _api("cohort-utility-in-one-draw", lambda: sim.run_cohort(_model(), {"u_well": [0.9, 0.9, 1.2]}), HtaError,
         "in draw 2"),
    _api("cohort-chunk-zero", lambda: sim.run_cohort(_model(), chunk_size=0), HtaError, "chunk_size 0"),
    _api("cohort-draw-ids-mismatch", lambda: sim.run_cohort(_model(), pd.DataFrame(
        {"draw": [1, 1], "p_sick": [0.1, 0.2]})), HtaError, "draw id 1 appears 2 times"),
    # run_psa
    _api("psa-table-not-a-table", lambda: sim.run_psa(_model(), {"p_sick": 0.1}, 10, 1), HtaError,
         "run_psa needs a ParameterTable, got dict"),
    _api("psa-not-a-model", lambda: sim.run_psa("m", _table(), 10, 1), HtaError, "run_psa needs a Model"),
    _api("psa-table-extra", lambda: _psa(_extra()), HtaError, "parameter 'u_sik' is not a parameter of model 'tiny' "
         "(did you mean 'u_sick'?)"),
    _api("psa-table-lacks", lambda: _psa(_partial()), HtaError, "run_psa: 1 parameter(s) of model 'tiny' missing from "
         "corpus table: u_sick"),
    _api("psa-defaults-bad", lambda: _psa(_table(), defaults="all"), HtaError, "defaults='all'"),
    _api("psa-fixed-misspelt", lambda: _psa(_table(), fixed={"p_sik": 0.1}), HtaError, "fixed: parameter 'p_sik'"),
    _api("psa-n-zero", lambda: sim.run_psa(_model(), _table(), 0, 1), HtaError, "0"),
    _api("psa-n-float", lambda: sim.run_psa(_model(), _table(), 2.5, 1), HtaError, "run_psa: n 2.5 must be a whole"),
    _api("psa-seed-negative", lambda: sim.run_psa(_model(), _table(), 10, -1), HtaError, "seed"),
    _api("psa-method", lambda: _psa(_table(), method="gibbs"), HtaError, "'gibbs'"),
    _api("psa-chunk-zero", lambda: _psa(_table(), chunk_size=0), HtaError, "chunk_size 0"),
    _api("psa-huge", lambda: sim.run_psa(_model(), _table(), 10**15, 1), HtaError, "above the memory limit"),
    _api("psa-memory-limit-text", lambda: _psa(_table(), memory_limit="lots"), HtaError, "'lots'"),
    _api("psa-utility-draw", lambda: _psa(_table(B.TABLE.replace("u_well,0.9,beta,mean=0.9; se=0.02",
                                                                  "u_well,0.99,normal,mean=0.99; sd=0.2"))),
         HtaError, "utility of state 'Well'"),
    # parameter tables and sampling
    _api("table-empty", lambda: sim.ParameterTable([]), HtaError, "no parameters"),
    _api("table-lookup", lambda: _table()["p_sik"], HtaError, "did you mean 'p_sick'"),
    _api("table-draw-zero", lambda: _table().draw(0, 1), HtaError, "0"),
    _api("table-draw-method", lambda: _table().draw(10, 1, method="x"), HtaError, "'x'"),
    _api("table-correlation-unknown", lambda: sim.ParameterTable(_table().parameters, correlations={
        ("p_sick", "c_drg"): 0.3}), HtaError, "c_drg"),
    _api("table-correlation-above-one", lambda: sim.ParameterTable(_table().parameters, correlations={
        ("p_sick", "c_drug"): 1.5}), HtaError, "1.5"),
    _api("table-correlation-not-psd", lambda: sim.ParameterTable(_table().parameters, correlations={
        ("p_sick", "c_drug"): 0.9, ("p_sick", "u_well"): 0.9, ("c_drug", "u_well"): -0.9}), HtaError, "correlation"),
    _api("parameter-bad-distribution", lambda: sim.ParameterTable([sim.Parameter("p", 0.1, "betta", {"mean": "0.1"},
                                                                                   source="s")]), HtaError,
         "did you mean 'beta'"),
    _api("parameter-no-source", lambda: sim.ParameterTable([sim.Parameter("p", 0.1)]), HtaError, "no source"),
    _api("table-read-missing", lambda: sim.ParameterTable.read("/nonexistent/t.csv"), HtaError, "not found"),
    # decisions
    _api("icer-lengths", lambda: sim.icer_table(["a", "b"], [1.0, 2.0], [1.0]), HtaError, "effects"),
    _api("icer-nan-cost", lambda: sim.icer_table(["a", "b"], [1.0, np.nan], [1.0, 2.0]), HtaError, "'b'"),
    _api("icer-duplicate-names", lambda: sim.icer_table(["a", "a"], [1.0, 2.0], [1.0, 2.0]), HtaError, "'a'"),
    _api("icers-missing-column", lambda: sim.icers(pd.DataFrame({"strategy": ["a"], "cost": [1.0]})), HtaError,
         "qaly"),
    _api("ceac-negative-wtp", lambda: sim.ceac(C2, E2, [-1.0]), HtaError, "willingness to pay -1 is negative"),
    _api("ceac-shapes", lambda: sim.ceac(C2, E2[:2], [1.0]), HtaError, "shape"),
    _api("ceac-names", lambda: sim.ceac(C2, E2, [1.0], ["a"]), HtaError, "strateg"),
    _api("evpi-nan", lambda: sim.evpi(np.where(C2 > 2.4, np.nan, C2), E2, [1.0]), HtaError, "finite"),
    _api("net-benefit-kind", lambda: sim.net_benefit(C2, E2, 1.0, kind="gross"), HtaError, "'gross'"),
    # patient level
    _api("markov-patients-zero", lambda: sim.patient.run_markov_patients(_model(), 0, 1), HtaError, "n_patients 0"),
    _api("markov-patients-misspelt", lambda: sim.patient.run_markov_patients(_model(), 10, 1, params={"p_sik": 0.1}),
         HtaError, "did you mean 'p_sick'"),
    _api("markov-patients-draw", lambda: sim.patient.run_markov_patients(_model(), 10, 1, draw=5), HtaError,
         "draw 5 is out of range"),
    _api("markov-patients-draws-lack", lambda: sim.patient.run_markov_patients(_model(), 10, 1,
                                                                                params=_partial().draw(3, 1)),
         HtaError, "run_markov_patients: 1 parameter(s) of model 'tiny' missing from the draws"),
    _api("patient-psa-extra-column", lambda: sim.patient.run_patient_psa(
        _patient_build, pd.DataFrame({"c_well": [100.0], "c_extra": [5.0], "c_extr": [1.0]}), 5, 1,
        parameters=PBASE), HtaError, "draws column 'c_extr' (did you mean 'c_extra'?)"),
    _api("patient-psa-missing-column", lambda: sim.patient.run_patient_psa(
        _patient_build, pd.DataFrame({"c_well": [100.0]}), 5, 1, parameters=PBASE), HtaError,
         "the draws lack 1 parameter(s): c_extra"),
    _api("patient-psa-missing-no-declaration", lambda: sim.patient.run_patient_psa(
        _patient_build, pd.DataFrame({"c_well": [100.0], "c_extr": [1.0]}), 5, 1), HtaError,
         "build needs parameter 'c_extra', which draw 0 lacks (did you mean 'c_extr'?)"),
    _api("patient-psa-defaults-without-parameters", lambda: sim.patient.run_patient_psa(
        _patient_build, pd.DataFrame({"c_well": [100.0]}), 5, 1, defaults="model"), HtaError, "needs parameters="),
    _api("patient-psa-empty-draws", lambda: sim.patient.run_patient_psa(_patient_build, pd.DataFrame(), 5, 1),
         HtaError, "non-empty DataFrame"),
    _api("patient-psa-build-not-callable", lambda: sim.patient.run_patient_psa("x", pd.DataFrame({"a": [1]}), 5, 1),
         HtaError, "build must be a function"),
    _api("patient-run-nan-base", lambda: sim.PatientRun(_patient_build, {"c_well": np.nan}, 5, 1), HtaError,
         "'c_well'"),
    _api("patient-run-misspelt", lambda: sim.PatientRun(_patient_build, PBASE, 5, 1).run({"c_wel": [1.0]}), HtaError,
         "did you mean 'c_well'"),
    _api("patient-run-base-lacks", lambda: sim.PatientRun(_patient_build, {"c_well": 100.0}, 5, 1).run({}), HtaError,
         "build needs parameter 'c_extra', which set 0 lacks"),
    _api("pathway-zero-patients", lambda: sim.patient.run_pathway({"a": _pathway()}, 0, seed=1), HtaError, "0"),
    _api("pathway-huge", lambda: sim.patient.run_pathway({"a": _pathway()}, 10**15, seed=1), HtaError,
         "memory limit"),
    # models
    _api("model-unknown-state", lambda: sim.Model(states=("A", "B"), strategies=("s",), transitions={("A", "C"): 0.1},
                                                  start={"A": 1}, horizon=5), HtaError, "'C'"),
    _api("model-utility-max-text", lambda: sim.Model(states=("A",), strategies=("s",), transitions={}, start={"A": 1},
                                                     horizon=5, utility_max="one"), HtaError, "utility_max 'one'"),
    _api("model-with-parameters-misspelt", lambda: _model().with_parameters(p_sik=0.2), HtaError,
         "did you mean 'p_sick'"),
    _api("model-horizon-negative", lambda: sim.Model(states=("A",), strategies=("s",), transitions={},
                                                     start={"A": 1}, horizon=-5), HtaError, "horizon"),
    _api("model-start-sum", lambda: sim.run_cohort(sim.Model(states=("A", "B"), strategies=("s",), transitions={},
                                                             start={"A": 0.5, "B": 0.2}, horizon=5)), HtaError,
         "strategy 's': start distribution sums to 0.7"),
]


@pytest.mark.parametrize(("call", "exc", "fragment"), API_CASES)
def test_api_case(call, exc, fragment):
    with pytest.raises(Exception) as info:
        call()
    assert type(info.value) is exc or isinstance(info.value, exc), repr(info.value)
    assert fragment in str(info.value), str(info.value)
    assert "\n" not in str(info.value), str(info.value)


# ---------------------------------------------------------------------------- every parameter accounted for: the opt-in
def test_defaults_model_opt_in_records_the_names_in_every_api():
    res = sim.run_psa(_model(), _partial(), 20, 1, defaults="model")
    assert res.settings["defaulted_parameters"] == ["u_sick"]
    full = sim.run_psa(_model(), _table(), 20, 1)
    assert "defaulted_parameters" not in full.settings
    res = sim.run_cohort(_model(), _partial().draw(4, 1), defaults="model")
    assert res.settings["defaulted_parameters"] == ["u_sick"]
    assert sim.run_cohort(_model(), _partial(), defaults="model").settings["defaulted_parameters"] == ["u_sick"]
    assert "defaulted_parameters" not in sim.run_cohort(_model(), {"p_sick": [0.1, 0.2]}).settings  # names varied
    res = sim.patient.run_markov_patients(_model(), 20, 1, params=_partial().draw(2, 1), defaults="model")
    assert res.settings["defaulted_parameters"] == ["u_sick"]
    res = sim.patient.run_patient_psa(_patient_build, pd.DataFrame({"c_well": [100.0, 120.0]}), 5, 1,
                                      parameters=PBASE, defaults="model")
    assert res.settings["defaulted_parameters"] == ["c_extra"]


def test_defaults_model_holds_the_missing_parameter_at_the_models_value():
    """run_psa with defaults="model" is run_cohort on the table's draws with the model's value in every draw."""
    a = sim.run_psa(_model(), _partial(), 30, 4, defaults="model")
    b = sim.run_cohort(_model(), _partial().draw(30, 4), defaults="model")
    pd.testing.assert_frame_equal(a.outcomes, b.outcomes, check_exact=True)
    c = sim.run_cohort(_model(), _partial().draw(30, 4).frame.assign(u_sick=0.6))  # every name given: no opt-in
    pd.testing.assert_frame_equal(b.outcomes, c.outcomes, check_exact=True)
    d = sim.run_cohort(_model(), _partial().draw(30, 4).frame.assign(u_sick=0.5))
    assert not np.array_equal(d.outcomes["qaly"], b.outcomes["qaly"])


def test_utility_max_from_the_experiment_file_lets_the_run_through(tmp_path, capsys):
    (tmp_path / "t.csv").write_text(B.TABLE.replace("u_well,0.9,beta,mean=0.9; se=0.02", "u_well,1.2,fixed,"))
    f = tmp_path / "e.toml"
    f.write_text("utility_max = 1.5\n" + TINY)
    assert main(["validate", str(f)]) == 0, capsys.readouterr().err
    f.write_text('utility_max = "none"\n' + TINY + "[scenario]\nu_sick = 3.0\n")
    assert main(["run", str(f), "--quiet"]) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / "icer.csv").is_file()


# ---------------------------------------------------------------------------- faults (real processes)
def _cli(args, cwd, **kw):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "sim", *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(path: Path, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _sweep(folder: Path, draws=4000) -> Path:
    import exp_helpers as H

    return H.sweep(folder, draws=draws)


FAULTS = ["sigkill-sweep-resumes", "sigkill-run-reruns", "sigint-130", "concurrent-lock", "read-only-permissions",
          "read-only-simulated", "full-disk"]  # the slow tests below, one each


@pytest.mark.slow
def test_fault_sigkill_mid_sweep_then_rerun_resumes(tmp_path):
    f = _sweep(tmp_path)
    proc = _cli(["run", str(f), "--quiet"], tmp_path)
    _wait_for(tmp_path / ".out.partial" / "sweep", proc)
    deadline = time.monotonic() + 120
    while not list((tmp_path / ".out.partial" / "sweep").glob("scenario=*/part-0.parquet")):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (tmp_path / "out").exists()  # nothing that looks like a result
    again = _cli(["run", str(f), "--quiet"], tmp_path)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "Traceback" not in err
    assert (tmp_path / "out" / "sweep_summary.csv").is_file() and not (tmp_path / ".out.partial").exists()
    ref = tmp_path / "ref"  # the same sweep, uninterrupted
    g = _sweep(ref)
    clean = _cli(["run", str(g), "--quiet"], ref)
    clean.communicate(timeout=600)
    assert (tmp_path / "out" / "sweep_summary.csv").read_bytes() == (ref / "out" / "sweep_summary.csv").read_bytes()


@pytest.mark.slow
def test_fault_sigkill_mid_run_then_rerun_is_clean(tmp_path):
    import exp_helpers as H

    f = H.small(tmp_path, draws=400_000, chunk=20_000)
    proc = _cli(["run", str(f), "--quiet"], tmp_path)
    _wait_for(tmp_path / ".out.partial", proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (tmp_path / "out").exists() and result_like(tmp_path) == []
    # the dead run's lock is stale: a rerun takes it over and finishes (a small run, same folder)
    f.write_text(f.read_text().replace("draws = 400000", "draws = 50").replace("chunk = 20000", "chunk = 25"))
    again = _cli(["run", str(f), "--quiet"], tmp_path)
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "Traceback" not in err and (tmp_path / "out" / "manifest.json").is_file()


@pytest.mark.slow
def test_fault_sigint_exits_130_with_one_line(tmp_path):
    import exp_helpers as H

    f = H.small(tmp_path, draws=400_000, chunk=20_000)
    proc = _cli(["run", str(f), "--quiet"], tmp_path)
    _wait_for(tmp_path / ".out.partial", proc)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.count("\n") == 1 and err.startswith("hta-sim: error: interrupted") and "Traceback" not in err
    assert not (tmp_path / "out").exists() and result_like(tmp_path) == []


@pytest.mark.slow
def test_fault_two_concurrent_runs_on_one_folder(tmp_path):
    import exp_helpers as H

    f = H.small(tmp_path, draws=400_000, chunk=20_000)
    first = _cli(["run", str(f), "--quiet"], tmp_path)
    try:
        _wait_for(tmp_path / ".out.lock", first)
        second = _cli(["run", str(f), "--quiet"], tmp_path)
        _, err = second.communicate(timeout=300)
        assert second.returncode == 2, err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"pid {first.pid}" in err and "lock" in err, err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_fault_read_only_output_folder_by_permissions(tmp_path):
    import exp_helpers as H

    f = H.small(tmp_path / "exp", draws=20)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        p = _cli(["run", str(f), "--quiet", "--output", str(ro / "out")], tmp_path)
        _, err = p.communicate(timeout=300)
        assert p.returncode == 2 and err.count("\n") == 1 and "Permission denied" in err and "Traceback" not in err
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


@pytest.mark.slow
def test_fault_read_only_output_folder_simulated(tmp_path, capsys, monkeypatch):
    """Works as root too: every attempt to create the staging folder fails with EROFS."""
    import errno

    import exp_helpers as H

    f = H.small(tmp_path, draws=20)
    real = Path.mkdir

    def refuse(self, *a, **k):
        if ".out.partial" in self.name:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", refuse)
    assert main(["run", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Read-only file system" in err and "Traceback" not in err, err
    assert result_like(tmp_path) == [] and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_fault_full_disk(tmp_path, capsys, monkeypatch):
    """A real small tmpfs where this user may mount one; else ENOSPC simulated on the write path, in process."""
    import errno

    import exp_helpers as H

    f = H.small(tmp_path / "exp", draws=2000, chunk=500)
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                             capture_output=True).returncode == 0
    try:
        if mounted:
            p = _cli(["run", str(f), "--quiet", "--output", str(disk / "out")], tmp_path)
            _, err = p.communicate(timeout=600)
            assert p.returncode == 2, err
        else:  # simulated: every CSV write of the run fails with ENOSPC, in process
            def full(*a, **k):
                raise OSError(errno.ENOSPC, "No space left on device")

            monkeypatch.setattr(pd.DataFrame, "to_csv", full)
            assert main(["run", str(f), "--quiet", "--output", str(disk / "out")]) == 2
            err = capsys.readouterr().err
        assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err, err
        assert list(disk.iterdir()) == []
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], check=False)


# ---------------------------------------------------------------------------- the corpus, counted
def test_corpus_size():
    """At least 150 cases, every category present (the issue's point 10)."""
    cats = {c.category for c in CLI_ALL} | {"api", "fault"}
    assert {"cli", "toml", "keys", "types", "ranges", "model", "paths", "names", "csv", "xlsx", "api",
            "fault"} <= cats
    total = len(CLI_ALL) + len(API_CASES) + len(RECORD_CASES) + len(FAULTS)
    assert total >= 150, total
    assert {c[3] for c in RECORD_CASES} == {1, 2}  # --repeat's own exit status is exercised


# ---------------------------------------------------------------------------- a recorded run: --repeat, --overwrite
@pytest.fixture(scope="module")
def recorded_run(tmp_path_factory):
    import exp_helpers as H

    folder = tmp_path_factory.mktemp("recorded")
    f = H.small(folder, draws=30)
    assert main(["run", str(f), "--quiet"]) == 0
    return folder


def _digit(folder: Path) -> None:
    p = folder / "out" / "psa_outcomes.csv"
    text = p.read_text()
    i = next(i for i, ch in enumerate(text) if ch.isdigit() and i > text.index("\n"))
    p.write_text(text[:i] + str((int(text[i]) + 1) % 10) + text[i + 1:])


def _manifest(edit):
    def apply(folder: Path) -> None:
        import json

        p = folder / "out" / "manifest.json"
        m = json.loads(p.read_text())
        edit(m)
        p.write_text(json.dumps(m, indent=2))
    return apply


def _write(name: str, text: str):
    return lambda folder: (folder / name).write_text(text)


REPEAT = ("run", "--repeat", "out/manifest.json", "--quiet")
RECORD_CASES = [  # (id, tamper, argv, exit status, fragment)
    ("repeat-digit-changed", _digit, REPEAT, 1, "changed (SHA-256 differs): psa_outcomes.csv"),
    ("repeat-file-deleted", lambda d: (d / "out" / "ceac.csv").unlink(), REPEAT, 1, "missing: ceac.csv"),
    ("repeat-two-faults", lambda d: [(d / "out" / "evpi.csv").unlink(), _digit(d)], REPEAT, 1,
     "missing: evpi.csv; changed (SHA-256 differs): psa_outcomes.csv"),
    ("repeat-manifest-seed", _manifest(lambda m: m.update(seed=12)), REPEAT, 1,
     "the manifest was edited since the run"),
    ("repeat-manifest-output-hash", _manifest(lambda m: m["outputs"].update({"ceac.csv": "0" * 64})), REPEAT, 1,
     "the manifest was edited since the run"),
    ("repeat-manifest-output-dropped", _manifest(lambda m: m["outputs"].pop("ceac.csv")), REPEAT, 1,
     "the manifest was edited since the run"),
    ("repeat-manifest-hash-dropped", _manifest(lambda m: m.pop("manifest_sha256")), REPEAT, 1,
     "the manifest was edited since the run"),
    ("repeat-manifest-not-json", _write("out/manifest.json", "{"), REPEAT, 2, "out/manifest.json:1: not an hta-sim "
     "manifest"),
    ("repeat-manifest-deleted", lambda d: (d / "out" / "manifest.json").unlink(), REPEAT, 2, "manifest not found"),
    ("repeat-into-the-record", lambda d: None, REPEAT + ("--output", "out"), 2, "never modifies the recorded run"),
    ("rerun-after-result-edited", _digit, ("run", "exp.toml", "--quiet", "--overwrite"), 2, "psa_outcomes.csv"),
    ("rerun-with-user-file", _write("out/notes.txt", "mine"), ("run", "exp.toml", "--quiet", "--overwrite"), 2,
     "notes.txt"),
    ("another-run-in-the-folder", _write("exp2.toml", HEAD.replace("seed = 1", "seed = 2")),
     ("run", "exp2.toml", "--quiet"), 2, "exp2.toml:4: output folder 'out' holds another run"),
    ("overwrite-holds-inputs", _write("exp2.toml", HEAD.replace('"out"', '"."')), ("run", "exp2.toml", "--quiet",
                                                                                     "--overwrite"), 2,
     "holds the experiment's inputs"),
]


@pytest.mark.parametrize(("tamper", "argv", "code", "fragment"),
                         [pytest.param(*c[1:], id=c[0]) for c in RECORD_CASES])
def test_recorded_run_case(recorded_run, tmp_path, monkeypatch, capsys, tamper, argv, code, fragment):
    """Every result file and the manifest are checked before anything runs; the record is never modified."""
    folder = tmp_path  # at the depth of the record: the manifest names its inputs by relative paths
    shutil.copytree(recorded_run, folder, dirs_exist_ok=True)
    shutil.copy(HIV_TABLE, folder / "hiv.csv")
    monkeypatch.chdir(folder)
    tamper(folder)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    got = main(list(argv))
    out, err = capsys.readouterr()
    assert got == code, (out, err)
    assert fragment in err and "Traceback" not in err + out, err
    assert err.startswith("hta-sim: error: ") and err.count("\n") == 1, err
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # nothing written or changed


def test_repeat_exits_1_when_a_result_differs_and_keeps_the_record(recorded_run, tmp_path, monkeypatch, capsys):
    """README: --repeat "exits with 1 if any result file differs from the recorded run" (a changed engine, here)."""
    import sim.cohort.psa as psa

    shutil.copytree(recorded_run, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    real = psa.cohort_totals

    def drifted(*a, **k):
        totals, traces, columns = real(*a, **k)
        return totals * (1 + 1e-9), traces, columns

    monkeypatch.setattr(psa, "cohort_totals", drifted)
    assert main(["run", "--repeat", "out/manifest.json", "--quiet"]) == 1
    out, err = capsys.readouterr()
    assert "result file(s) differ from the recorded run: " in out and "psa_outcomes" in out, out
    assert "Traceback" not in err + out
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before
    assert (tmp_path / "out.repeat-1" / "manifest.json").is_file()  # the rerun went to a fresh folder


def test_a_byte_order_mark_is_not_an_error(tmp_path, capsys):
    """Spreadsheet programs and editors on Windows save UTF-8 with a byte-order mark."""
    (tmp_path / "t.csv").write_bytes(B.TABLE.encode("utf-8-sig"))
    assert main(["validate", str(tmp_path / "t.csv")]) == 0, capsys.readouterr().err
    shutil.copy(HIV_TABLE, tmp_path / "hiv.csv")
    (tmp_path / "e.toml").write_bytes(HEAD.encode("utf-8-sig"))
    assert main(["validate", str(tmp_path / "e.toml")]) == 0, capsys.readouterr().err
