import pytest

from infonas.budget import Budget
from infonas.exceptions import InvalidArgumentError


def test_budget_limits():
    budget = Budget(evaluations=10, cost=2.5)
    assert not budget.exhausted(9, 2.4, 100.0)
    assert budget.exhausted(10, 0.0, 0.0)
    assert budget.exhausted(1, 2.5, 0.0)
    assert Budget(seconds=1.0).exhausted(0, 0.0, 1.5)


def test_budget_validation():
    with pytest.raises(ValueError, match="at least one"):
        Budget()
    with pytest.raises(ValueError, match="must be positive"):
        Budget(evaluations=0)
    with pytest.raises(InvalidArgumentError, match="must be a Budget or an int"):
        Budget.coerce(2.5)
    assert Budget.coerce(7) == Budget(evaluations=7)
    assert Budget.coerce(None, seconds=3.0) == Budget(seconds=3.0)
