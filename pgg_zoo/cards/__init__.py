"""Model cards and verified weight downloads.

::

    import pgg_zoo
    pgg_zoo.list_cards(task="classification")
    card = pgg_zoo.load_card("resnet50_imagenet1k_v1")
    path = pgg_zoo.download_weights(card, allow_unverified=True)

Nothing here touches the network or the cache on import; every download is an explicit call.
See docs/model_cards.md for the schema and for publishing weights.
"""
from .cache import (
    CACHE_ENV,
    HOME_ENV,
    MIRROR_ENV,
    OFFLINE_ENV,
    apply_mirror,
    cached_weights_path,
    lock_file_path,
    is_offline,
    mirror_prefix,
    pgg_zoo_home,
    weights_cache_dir,
)
from .download import (
    DownloadError,
    HashMismatchError,
    OfflineError,
    UnverifiedWeightsError,
    download_weights,
    fetch,
    sha256_file,
)
from ..weights_io import WeightsMismatchError, check_state_dict, read_state_dict
from .loading import apply_card_rules, card_build_overrides, load_weights, merge_card_overrides
from .schema import CardError, GuidanceSpec, InputSpec, ModelCard, WeightsSpec
from .store import CARD_PATH_ENV, card_dirs, card_files, list_cards, load_card, read_card

__all__ = [
    "ModelCard", "InputSpec", "GuidanceSpec", "WeightsSpec", "CardError",
    "list_cards", "load_card", "read_card", "card_dirs", "card_files", "CARD_PATH_ENV",
    "download_weights", "fetch", "sha256_file",
    "DownloadError", "HashMismatchError", "OfflineError", "UnverifiedWeightsError",
    "load_weights", "card_build_overrides", "merge_card_overrides", "read_state_dict", "apply_card_rules",
    "check_state_dict", "WeightsMismatchError",
    "pgg_zoo_home", "weights_cache_dir", "cached_weights_path", "is_offline", "mirror_prefix",
    "apply_mirror", "lock_file_path", "HOME_ENV", "CACHE_ENV", "OFFLINE_ENV", "MIRROR_ENV",
]
