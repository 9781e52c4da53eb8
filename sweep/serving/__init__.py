"""Serving the promoted configs: forecasts (:mod:`.predict`) and the stock-prediction export (:mod:`.export`)."""

from .export import LAYOUTS, export_stock_prediction
from .predict import Forecast, Predictor, load_predictor

__all__ = ["LAYOUTS", "export_stock_prediction", "Forecast", "Predictor", "load_predictor"]
