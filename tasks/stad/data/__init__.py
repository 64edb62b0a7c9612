"""STAD data: video decoding, UCF101-24/JHMDB and AVA readers, the embedded sprites benchmark.

Nothing here downloads or generates at import; :func:`ensure_stad_benchmark` generates on call.
"""
from .ava import AVADataset, AVALabel, AVAPerson, parse_label_map, read_ava_csv, read_exclusions
from .benchmark import (ANNOTATION_FILE, SPRITES_LINKING, SPRITES_V1, SpritesSpec,
                        ensure_stad_benchmark,
                        generate_stad_benchmark, load_actor_masks, stad_sprites_dataset)
from .errors import DatasetFormatError, STADDataError, VideoDecodeError
from .ucf24 import (JHMDBDataset, TubeDataset, UCF24Dataset, clip_frame_numbers,
                    load_tube_annotations, stad_collate, validate_tube_annotations)
from .video import BadSampleWarning, SkipPolicy, probe_video, read_clip, write_video

__all__ = [
    "ANNOTATION_FILE", "SPRITES_LINKING", "AVADataset", "AVALabel", "AVAPerson", "BadSampleWarning",
    "DatasetFormatError", "JHMDBDataset", "STADDataError", "SkipPolicy", "SPRITES_V1",
    "SpritesSpec",
    "TubeDataset", "UCF24Dataset", "VideoDecodeError", "clip_frame_numbers",
    "ensure_stad_benchmark", "generate_stad_benchmark", "load_actor_masks",
    "load_tube_annotations", "parse_label_map", "probe_video", "read_ava_csv",
    "read_clip", "read_exclusions", "stad_collate",
    "stad_sprites_dataset", "validate_tube_annotations", "write_video",
]
