from __future__ import annotations

import pytest

from apps.concerns.models import Category

GRAFFITI_ATTRIBUTES = [
    {
        "code": "surface",
        "datatype": "singlevaluelist",
        "required": True,
        "description": "What is painted on?",
        "order": 2,
        "values": [{"key": "wall", "name": "A wall"}, {"key": "sign", "name": "A traffic sign"}],
    },
    {
        "code": "colours",
        "datatype": "multivaluelist",
        "required": False,
        "description": "Which colours?",
        "order": 1,
        "values": [{"key": "red", "name": "Red"}, {"key": "blue", "name": "Blue"}, {"key": "green", "name": "Green"}],
    },
    {"code": "area_m2", "datatype": "number", "required": False, "description": "About how many square metres?"},
    {"code": "seen_at", "datatype": "datetime", "required": False, "description": "When did you notice it?"},
    {"code": "tag_text", "datatype": "string", "required": False, "description": "What does it say?"},
    {
        "code": "notes",
        "datatype": "text",
        "required": False,
        "description": "Anything else?",
        "datatype_description": "A few sentences.",
    },
    {"code": "info", "datatype": "string", "variable": False, "description": "Offensive graffiti is removed first."},
]


@pytest.fixture
def graffiti(db: None) -> Category:
    """A service using every datatype, with a required attribute and out-of-order orders."""
    return Category.objects.create(
        code="graffiti",
        name="Graffiti",
        description="Paint or tags on public property.",
        group="Environment",
        keywords=["graffiti", "tag", "paint"],
        sla_hours=96,
        attributes=GRAFFITI_ATTRIBUTES,
        sort_order=99,
    )
