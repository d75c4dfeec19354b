"""minima: the library of the executable book *No bad local minima*.

Modules by concept: :mod:`minima.device` (device and seeds), :mod:`minima.data` (data sets),
:mod:`minima.models` (ensembles of bias-free leaky-ReLU networks), :mod:`minima.train` (training with
the papers' stopping rule), :mod:`minima.rank` (the Khatri–Rao rank tools) and
:mod:`minima.construction` (Theorem 8's zero-error network).
"""
from .device import default_device, seed_everything
from .models import LeakyReLUNet, leaky_relu
from .train import History, Settled, WidthSweep, mce, mse, settle_in_region, slope_noise, sweep_widths, train
from . import construction, data, derivatives, plotting, rank

__all__ = ["default_device", "seed_everything", "LeakyReLUNet", "leaky_relu", "train", "History",
           "mse", "mce", "sweep_widths", "slope_noise", "settle_in_region", "Settled", "WidthSweep", "data", "plotting", "construction", "derivatives", "rank"]
__version__ = "0.1.0"
