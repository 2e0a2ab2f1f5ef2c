"""Dataset cards (what a dataset is) and the loaders that read it from disk."""
from .card import DatasetCard, list_cards, load_card
from .splits import Split, load_split, load_test_split, load_train_subset

__all__ = ["DatasetCard", "Split", "list_cards", "load_card", "load_split", "load_test_split", "load_train_subset"]
