"""minima: the library of the executable book *No bad local minima*.

One module per concept, in layers; a module imports only from layers below its own (a test checks it):

1. ``_checks`` (input contracts: every failure is a ``ValueError`` naming the argument);
2. ``device`` (device, seeds, runtime switches), ``rank`` (the linear-algebra leaf: Khatri–Rao rank, power
   iteration, the round-off rule for ranks and spectra), ``claims`` (the reproduction ledger: each
   claim a page checks, the paper's value beside the book's);
3. ``models`` (the pure ``forward`` and the ``LeakyReLUNet`` ensemble), ``losses`` (each paper's
   normalisation), ``data`` (data sets);
4. ``derivatives`` (the gradient matrix ``G``, gradients and Hessians);
5. ``regions`` (activation regions and Lemma 1: ``A∘X``, the exact solve, planted minima, stationarity,
   whether a region holds a minimum);
6. ``train`` (training loops, callbacks, width sweeps);
7. one module per theory: ``construction`` (Theorem 8), ``linear`` (deep linear networks), ``depth``
   (Kawaguchi–Huang–Kaelbling's J(θ)), ``ntk`` (Du et al.'s Gram-matrix dynamics), ``volume`` (Soudry &
   Hoffer's angular volume of regions: unit and region volumes, Cover's count, Corollary 28, orthant
   probabilities);
8. ``census`` (what the regions hold, sampled and averaged over data: the landscape census, the
   rank-deficient volume, the conditional census, the fitted and large-N rates), ``guarantees`` (each
   theorem's demand on the width, on the axis #parameters/N);
9. ``plotting`` (figures; imported on first use, so ``import minima`` needs no matplotlib), ``pictures``
   (figures that draw an idea, computed by the library; imported on first use), ``exercises`` (the
   checks of the chapters' computational exercises).
"""
from . import (census, claims, construction, data, guarantees, depth, derivatives, device, exercises, linear, losses, models, ntk,
               rank, regions, volume)
from .device import default_device, progress_enabled, seed_everything
from .losses import half_squared_error, mce, mse
from .models import LeakyReLUNet, forward, leaky_relu, slope_noise
from .train import History, MinAbsPreactivation, WidthSweep, sweep_widths, train  # minima.train: the function

__all__ = ["default_device", "seed_everything", "progress_enabled", "LeakyReLUNet", "forward", "leaky_relu",
           "slope_noise", "mse", "mce", "half_squared_error", "train", "History", "MinAbsPreactivation",
           "sweep_widths", "WidthSweep", "census", "claims", "guarantees", "construction", "data", "depth", "derivatives", "device", "exercises",
           "linear", "losses", "models",
           "ntk", "pictures", "plotting", "rank", "regions", "volume"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in ("plotting", "pictures"):  # matplotlib only when a figure is wanted
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'minima' has no attribute {name!r}")
