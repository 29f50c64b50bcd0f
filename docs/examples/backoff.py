from spinach.utils import exponential_backoff

# The delay before retry number n: between half and all of min(2 ** n, cap) seconds
for attempt in (1, 5, 10, 20):
    delay = exponential_backoff(attempt)
    ceiling = min(2**attempt, 1200)
    assert ceiling / 2 <= delay.total_seconds() <= ceiling
    print(f"attempt {attempt}: retry in {delay.total_seconds():.0f} s (at most {ceiling} s)")
