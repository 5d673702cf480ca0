"""The DeLong implementation lives in `radlens.evaluation.delong_auc`; `radlens.evaluation.delong`
is the function. (The module used to be called `delong` too, so after importing the package the
attribute resolved to the function and shadowed the module.)"""

from __future__ import annotations

import importlib
import inspect

import numpy as np

import radlens.evaluation as evaluation


def test_delong_function_and_module_do_not_clash() -> None:
    module = importlib.import_module("radlens.evaluation.delong_auc")
    assert inspect.ismodule(module)
    assert inspect.isfunction(evaluation.delong)
    assert evaluation.delong is module.delong
    assert evaluation.delong_paired_test is module.delong_paired_test
    # importing the module does not rebind the package attribute to it
    importlib.import_module("radlens.evaluation.delong_auc")
    assert inspect.isfunction(evaluation.delong)
    result = evaluation.delong(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    assert np.isclose(result.auc[0], 0.75)
