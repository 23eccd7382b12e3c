"""Names of tiers and titles come from one catalogue (srdi/i18n/messages.yaml)."""
import pytest

from srdi.i18n import names
from srdi.profile.model import TITLE_TYPES


def test_every_title_type_of_the_profile_has_both_names_and_no_other():
    for lang in ("zh", "en"):
        got = names("title", lang)
        assert set(got) == set(TITLE_TYPES)
        assert all(v and not v.startswith("title.") for v in got.values())


@pytest.mark.parametrize("kind", ["tier", "tier_short"])
def test_every_tier_has_both_names(kind):
    for lang in ("zh", "en"):
        got = names(kind, lang)
        assert {"innovative_sme", "tech_innovative_sme", "srdi_sme", "little_giant"} <= set(got)


def test_batch_headers_use_the_catalogue_names():
    from srdi.batch.io import TITLE_ZH

    assert TITLE_ZH["tech_innovation_demo_enterprise"] == "技术创新示范企业"  # criteria.md §4 (二)
    assert TITLE_ZH == names("title", "zh")
