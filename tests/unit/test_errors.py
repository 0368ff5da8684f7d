"""Errors keep their code, message and hint wherever they travel."""

from __future__ import annotations

import pytest


def test_errors_survive_a_process_boundary():
    import pickle

    from charter.domain.naming import InvalidName, check_name
    from charter.person_names import default_policy

    with pytest.raises(InvalidName) as caught:
        check_name("fraud_detector_v2", default_policy())
    copy = pickle.loads(pickle.dumps(caught.value))
    assert type(copy) is InvalidName
    assert (copy.code, copy.message, copy.hint) == (caught.value.code, caught.value.message,
                                                    caught.value.hint)
