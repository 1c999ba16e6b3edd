"""Dataset recipes: each public dataset's native layout -> our folder layout (``scripts/prepare_data.py``).

One file per dataset; each ``prepare_<name>(src, out, **options)`` returns a
:class:`~src.data.recipes.common.RecipeReport` of what was written, skipped and converted.
"""

from src.data.recipes.carvana import prepare_carvana
from src.data.recipes.common import RecipeError, RecipeReport
from src.data.recipes.dsb2018 import prepare_dsb2018
from src.data.recipes.pets import prepare_pets
from src.data.recipes.voc import prepare_voc

RECIPES = {"voc": prepare_voc, "pets": prepare_pets, "dsb2018": prepare_dsb2018, "carvana": prepare_carvana}

__all__ = ["RECIPES", "RecipeError", "RecipeReport"]
