"""Every defect the data check handles, written once: what it is, what happens to it
(``repaired``, ``dropped``, ``refused`` or ``noted``), why, and what mmdet, mmseg or
pycocotools would do with the file as it is.

The readers (:mod:`.coco`, :mod:`.segmentation`, :mod:`.classification`) record each
finding under its rule's code in :class:`Findings`; the notes of a report and the
one-line refusals are made from the rules, and so is the table of docs/compare.md
(:func:`rules_table`, tested against the file).

A rule that drops images or annotations refuses instead when it would drop more than
:data:`DROP_LIMIT` of them (and more than :data:`DROP_MIN`): a few broken files in a big
export are stray defects, half of them is a wrong export.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from ..config import ConfigError

__all__ = ['DataError', 'Rule', 'RULES', 'ACTIONS', 'AS_IS', 'DROP_LIMIT', 'DROP_MIN',
           'Findings', 'rules_table', 'get_rule']

ACTIONS = ('repaired', 'dropped', 'refused', 'noted')
# what the training and evaluation tools do with the defect left in the file
AS_IS = {'crash': 'crashes mmdet/mmseg or pycocotools (often only at the evaluation, '
                  'after training)',
         'wrong': 'trains or evaluates on wrong data without a word',
         'skipped': 'is skipped by mmdet/mmseg without a word',
         'fine': 'works; said for the record'}
DROP_LIMIT = 0.1  # the share of a file's images or annotations a rule may drop
DROP_MIN = 5      # ... and always this many (a small dataset with one broken file)
EXAMPLES = 3      # ids named in a note


class DataError(ConfigError):
    """A dataset that cannot be trained on as given; the message is one line that names
    the file, the item and the fix, and ends with the rule's code (``code``)."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Rule:
    code: str
    layout: str    # 'coco', 'segmentation', 'classification' or 'images' (all three)
    defect: str    # what is wrong, as a plural noun phrase ('boxes with w or h < 1 px')
    action: str    # one of ACTIONS
    outcome: str   # what the check does about it (or, refused: how to fix it)
    as_is: str     # one of AS_IS: what happens when the file is used unrepaired

    def note(self, count: int, refs: Iterable = (), where: str = '') -> str:
        """The report line of ``count`` findings (the first :data:`EXAMPLES` ``refs``)."""
        refs = list(refs)
        shown = ', '.join(str(r) for r in refs[:EXAMPLES]) + (' ...' if len(refs) > EXAMPLES
                                                            else '')
        prefix = f'{where}: ' if where else ''
        return (f'{prefix}{count} {self.defect}: {self.outcome}'
                + (f' (e.g. {shown})' if shown else ''))

    def error(self, what: str, fix: str | None = None) -> DataError:
        """The one-line refusal: ``what`` is wrong where (a whole clause), the fix (the
        rule's, or ``fix``) and the rule's code."""
        return DataError(f'{what}; {fix or self.outcome} [{self.code}]', self.code)


_R = Rule
RULES = {r.code: r for r in (
    # -- COCO instances JSON: the file ---------------------------------------------------
    _R('coco-structure', 'coco', 'not a COCO instances file', 'refused',
       'give a JSON object with "images", "annotations" and "categories" lists', 'crash'),
    _R('category-invalid', 'coco', 'categories without an integer id or a name', 'refused',
       'give every category an "id" (integer) and a non-empty "name"', 'crash'),
    _R('category-duplicate-id', 'coco', 'categories sharing an id', 'refused',
       'give every category its own id', 'wrong'),
    _R('category-duplicate-name', 'coco', 'categories sharing a name', 'refused',
       'merge them (one id per class name) or rename one', 'wrong'),
    _R('categories-differ', 'coco', 'train and validation files with other categories',
       'refused', 'give both splits the same category list', 'wrong'),
    _R('category-ids-sparse', 'coco', 'category ids that are not contiguous', 'noted',
       'mmdet maps them to labels 0..N-1 in id order', 'fine'),
    _R('category-unused', 'coco', 'categories without any instance', 'repaired',
       'left out of the classes (a head class that cannot be learnt)', 'wrong'),
    _R('category-val-only', 'coco', 'classes that appear only in the validation split',
       'noted', 'they cannot be learnt; their AP is 0', 'fine'),
    _R('id-as-string', 'coco', 'ids written as strings of digits', 'repaired',
       'read as integers', 'wrong'),
    # -- images ------------------------------------------------------------------------
    _R('image-entry-invalid', 'coco', 'image entries without an integer id or a file name',
       'refused', 'give every image an "id" (integer) and a "file_name"', 'crash'),
    _R('image-duplicate-id', 'coco', 'images sharing an id', 'refused',
       'give every image its own id (their annotations cannot be told apart)', 'wrong'),
    _R('image-duplicate-file', 'coco', 'image entries naming the same file', 'refused',
       'list every file once and give its annotations that image id', 'wrong'),
    _R('image-missing', 'coco', 'images listed but not in the image folder', 'refused',
       'point --images at the folder that holds them (file_name is relative to it) or '
       'remove them from the JSON', 'crash'),
    _R('file-name-backslash', 'coco', 'file names with Windows path separators', 'repaired',
       'read with "/" (the file exists so)', 'crash'),
    _R('image-unreadable', 'images', 'images that are empty, truncated or cannot be decoded',
       'dropped', 'left out with their annotations or labels', 'crash'),
    _R('annotation-of-dropped-image', 'coco', 'annotations of the images left out',
       'dropped', 'left out with their image', 'fine'),
    _R('image-exif-orientation', 'coco', 'images with an EXIF orientation tag', 'noted',
       'mmcv decodes them turned or mirrored as the tag says: their annotations must be '
       'made on the turned image, as most labelling tools show it', 'fine'),
    _R('image-size-missing', 'coco', 'images without a positive integer width and height',
       'repaired', 'taken from the decoded file', 'crash'),
    _R('image-size-exif', 'coco', 'images whose width/height are the file\'s turned by its '
       'EXIF orientation', 'dropped', 'left out with their annotations: mmcv decodes the '
       'file turned, so the annotations (made on the unturned pixels) would be in another '
       'frame; re-export with the EXIF orientation applied', 'wrong'),
    _R('image-size-mismatch', 'coco', 'images whose width/height differ from the file',
       'dropped', 'left out with their annotations (made on another size of the image: a '
       'resized export); re-export the images the annotations were made on', 'wrong'),
    # -- annotations -------------------------------------------------------------------
    _R('annotation-entry-invalid', 'coco', 'annotation entries that are not JSON objects',
       'refused', 'fix the export', 'crash'),
    _R('annotation-unknown-image', 'coco', 'annotations of an image_id that is not listed',
       'refused', 'add the image or remove the annotation', 'wrong'),
    _R('annotation-unknown-category', 'coco', 'annotations of a category_id that is not '
       'listed', 'refused', 'fix the file or add the category', 'crash'),
    _R('annotation-id-missing', 'coco', 'annotations without a positive integer id',
       'repaired', 'given new ids (COCOeval\'s matching reads id 0 as "no match": a true '
       'positive on it would count as false)', 'crash'),
    _R('annotation-duplicate-id', 'coco', 'annotations sharing an id', 'repaired',
       'given new ids (the COCO evaluation keeps only one of them)', 'wrong'),
    _R('iscrowd-missing', 'coco', 'annotations without iscrowd', 'repaired',
       'read as 0 (not crowd)', 'crash'),
    _R('iscrowd-invalid', 'coco', 'annotations whose iscrowd is not 0 or 1', 'dropped',
       'left out', 'wrong'),
    _R('number-as-string', 'coco', 'entries with numbers written as strings', 'repaired',
       'read as numbers', 'crash'),
    _R('ignore-flag', 'coco', 'annotations with "ignore" set', 'repaired',
       'read as crowd regions (mmdet skips them in training, but COCOeval would score them '
       'as objects)', 'wrong'),
    _R('bbox-missing', 'coco', 'annotations without a bbox but with a mask', 'repaired',
       'the box around the mask', 'crash'),
    _R('bbox-missing-no-mask', 'coco', 'annotations without a bbox or a mask', 'dropped',
       'left out', 'crash'),
    _R('bbox-malformed', 'coco', 'annotations whose bbox is not 4 finite numbers', 'dropped',
       'left out', 'crash'),
    _R('bbox-clipped', 'coco', 'boxes partly outside the image', 'repaired',
       'clipped to the image', 'fine'),
    _R('bbox-outside', 'coco', 'boxes entirely outside the image', 'dropped', 'left out',
       'skipped'),
    _R('bbox-degenerate', 'coco', 'boxes with w or h < 1 px (zero or negative included)',
       'dropped', 'left out (mmdet skips them in training, the COCO evaluation counts '
       'them: the official COCO numbers keep them, a comparison on your data need not)',
       'skipped'),
    _R('area-missing', 'coco', 'annotations without an area', 'repaired',
       'computed from the mask, or the box without one', 'crash'),
    _R('area-not-positive', 'coco', 'annotations with an area of 0 or less', 'repaired',
       'computed from the mask, or the box without one', 'skipped'),
    _R('polygon-flat', 'coco', 'segmentations that are one flat list of coordinates',
       'repaired', 'read as one polygon', 'crash'),
    _R('polygon-too-few-points', 'coco', 'polygons with fewer than 3 points', 'repaired',
       'polygon removed (pycocotools cannot rasterise it)', 'crash'),
    _R('polygon-odd-length', 'coco', 'polygons with an odd number of values', 'repaired',
       'polygon removed (a coordinate is missing)', 'crash'),
    _R('polygon-not-numbers', 'coco', 'polygons with values that are not numbers',
       'repaired', 'polygon removed', 'crash'),
    _R('rle-size-mismatch', 'coco', 'RLE masks whose size differs from the image',
       'repaired', 'mask removed', 'crash'),
    _R('rle-invalid', 'coco', 'RLE masks that do not decode (counts that do not cover '
       'the size)', 'repaired', 'mask removed', 'crash'),
    _R('segmentation-invalid', 'coco', 'segmentations that are neither polygons nor RLE',
       'repaired', 'mask removed', 'crash'),
    _R('mask-missing', 'coco', 'objects without a mask in a dataset with masks',
       'dropped', 'left out: Mask R-CNN needs a mask for every object (give --models '
       'retinanet to train on boxes only)', 'crash'),
    _R('mask-unusable', 'coco', 'objects whose every polygon or RLE was removed',
       'dropped', 'left out: Mask R-CNN needs a mask for every object (give --models '
       'retinanet to train on boxes only)', 'crash'),
    _R('masks-few', 'coco', 'datasets where at most half the objects have a mask', 'noted',
       'trained as boxes (RetinaNet) unless --models mask_rcnn', 'fine'),
    _R('crowd', 'coco', 'crowd annotations', 'noted', 'ignored in training and crowd regions '
       'in the COCO evaluation', 'fine'),
    _R('image-empty', 'coco', 'images without objects', 'noted', 'skipped in training (mmdet '
       'filter_empty_gt), scored in validation (false positives count)', 'fine'),
    _R('no-annotations', 'coco', 'no (non-crowd) annotation left', 'refused',
       'nothing to train on; check the export', 'crash'),
    # -- semantic segmentation folders ---------------------------------------------------
    _R('classes-file-missing', 'segmentation', 'no class list', 'refused',
       'write classes.txt, one class name per line (line i is label value i)', 'crash'),
    _R('classes-file-invalid', 'segmentation', 'a class list that is empty or names a class '
       'twice', 'refused', 'write each class name once, one per line', 'wrong'),
    _R('seg-layout', 'segmentation', 'no images/ and labels/ folders', 'refused',
       'a segmentation dataset is images/, labels/ (PNG, value = line of classes.txt, 255 '
       '= ignored) and classes.txt, or the ADE20K layout', 'crash'),
    _R('label-missing', 'segmentation', 'images without a label map of the same name',
       'refused', 'add the label maps or remove the images', 'crash'),
    _R('label-orphan', 'segmentation', 'label maps without an image of the same name',
       'refused', 'remove them or add the images', 'fine'),
    _R('image-stem-duplicate', 'segmentation', 'images sharing a name but not the '
       'extension', 'refused', 'keep one file per name (both would read the same label '
       'map)', 'wrong'),
    _R('image-suffix-mixed', 'segmentation', 'a split with images of more than one '
       'extension', 'refused', 'convert them to one format (mmseg reads one img_suffix per '
       'split)', 'crash'),
    _R('label-unreadable', 'segmentation', 'label maps that are empty, truncated or cannot '
       'be decoded', 'dropped', 'left out with their images', 'crash'),
    _R('label-not-single-channel', 'segmentation', 'label maps that are not single-channel',
       'refused', 'write class indices as an 8-bit grey or palette PNG, not colours', 'crash'),
    _R('label-size-mismatch', 'segmentation', 'label maps whose size differs from their '
       'image as decoded (EXIF orientation applied)', 'refused',
       'give them the same size', 'crash'),
    _R('label-values', 'segmentation', 'label maps with values outside the classes',
       'refused', 'remap them or add the classes (mmseg reads label maps as 8-bit: values '
       'above 255 wrap)', 'crash'),
    _R('class-no-pixel', 'segmentation', 'classes without a pixel in the training split',
       'noted', 'they cannot be learnt', 'fine'),
    # -- classification folders --------------------------------------------------------
    _R('cls-layout', 'classification', 'no train/ and val/ class folders', 'refused',
       'a classification dataset is train/ and val/ with one folder per class (ImageNet '
       'layout)', 'crash'),
    _R('cls-val-extra-class', 'classification', 'validation class folders that training '
       'lacks', 'refused', 'give both splits the same classes', 'wrong'),
    _R('cls-list-line', 'classification', 'list lines that are not "<path> <label>" with a '
       'label of the class list', 'refused', 'fix the line', 'crash'),
    _R('class-no-image', 'classification', 'classes without a training image', 'noted',
       'they cannot be learnt', 'fine'),
    # -- every layout ------------------------------------------------------------------
    _R('val-too-small', 'images', 'a validation split too small to evaluate', 'refused',
       'give more images, a larger --val-fraction or a separate validation split', 'wrong'),
    _R('too-many-dropped', 'images', 'more dropped than a stray defect explains', 'refused',
       'fix the export (the rule named is the defect)', 'wrong'),
)}


def get_rule(code: str) -> Rule:
    return RULES[code]


class Findings:
    """What the check of one source (a file or folder) found, rule by rule: the ids it
    concerns, in the order found."""

    def __init__(self, where: str):
        self.where = where
        self.hits: dict[str, list] = {}
        self.texts: dict[str, str] = {}  # a rule's note in words of its own

    def add(self, code: str, ref=None, text: str | None = None) -> None:
        """Record one finding of rule ``code`` about ``ref`` (an id or a file name);
        ``text``: the note to show instead of the rule's count line."""
        if code not in RULES:
            raise KeyError(f'no data rule {code!r}')
        self.hits.setdefault(code, []).append(ref)
        if text is not None:
            self.texts[code] = text

    def count(self, code: str) -> int:
        return len(self.hits.get(code, ()))

    def refuse(self, code: str, what: str, fix: str | None = None) -> None:
        """Raise the rule's one-line refusal (see :meth:`Rule.error`)."""
        raise RULES[code].error(what, fix)

    def check_drops(self, totals: dict[str, int]) -> None:
        """Refuse when a dropping rule found more than its share of ``totals`` (per kind:
        ``'images'``, ``'annotations'``; see :data:`DROP_LIMIT`)."""
        for code, refs in self.hits.items():
            rule = RULES[code]
            if rule.action != 'dropped':
                continue
            if code == 'annotation-of-dropped-image':
                continue  # the images' own rule counts them
            kind = 'images' if code.startswith(('image-', 'label-')) else 'annotations'
            total = totals.get(kind, 0)
            if len(refs) > max(DROP_MIN, DROP_LIMIT * total):
                shown = ', '.join(str(r) for r in refs[:EXAMPLES])
                raise RULES['too-many-dropped'].error(
                    f'{self.where}: {len(refs)} of {total} {kind} are {rule.defect} (e.g. '
                    f'{shown}), more than the {DROP_LIMIT:.0%} a stray defect explains',
                    f'fix the export (rule {code}: {rule.outcome})')

    def notes(self, where: str | None = None) -> list[str]:
        """One report line per rule that found something (refused ones excepted)."""
        where = where if where is not None else self.where
        return [(f'{where}: {self.texts[c]}' if c in self.texts
                 else RULES[c].note(len(refs), [r for r in refs if r is not None], where))
                for c, refs in self.hits.items() if refs and RULES[c].action != 'refused']


def rules_table(layout: str | None = None) -> str:
    """The markdown table of every rule (docs/compare.md holds it)."""
    from ..utils.markdown import markdown_table
    rows = [[f'`{r.code}`', r.layout, r.defect, r.action, r.outcome, r.as_is]
            for r in RULES.values() if layout in (None, r.layout)]
    return markdown_table(['rule', 'layout', 'defect', 'what happens', 'how / the fix',
                           'left in the file'], rows)
