"""litstyle: teach a language model to write long stories in the style of a classic author."""

__version__ = "0.1.0"
