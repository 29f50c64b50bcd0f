from spinach.utils import exponential_backoff

# The delay before retry number n: 3 s doubled n times, drawn within the step
# from half of it to all of it, and never more than the cap (20 minutes).
for attempt in (1, 2, 5, 10):
    delay = exponential_backoff(attempt)
    ceiling = min(3 * 2**attempt, 1200)
    assert ceiling / 2 <= delay.total_seconds() <= ceiling
    print(f"attempt {attempt}: retry in {delay.total_seconds():.0f} s (at most {ceiling} s)")
