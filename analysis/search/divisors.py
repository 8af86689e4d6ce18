"""Divisors of a whole number from its prime factorisation, so the work grows with sqrt(n) (trial
division) and the number of divisors, never with n itself (pipeline degrees of an L-layer model
used to try every p up to L)."""

from __future__ import annotations


def prime_factors(n: int) -> dict[int, int]:
    """``{prime: exponent}`` with ``n = prod(p ** e)``, by trial division up to sqrt(n).

    >>> prime_factors(60)
    {2: 2, 3: 1, 5: 1}
    """
    if n < 1:
        raise ValueError(f"prime_factors needs n >= 1, got {n}")
    out: dict[int, int] = {}
    p = 2
    while p * p <= n:
        while n % p == 0:
            out[p] = out.get(p, 0) + 1
            n //= p
        p += 1 if p == 2 else 2
    if n > 1:
        out[n] = out.get(n, 0) + 1
    return out


def divisors(n: int) -> list[int]:
    """Every divisor of ``n`` in increasing order, built from :func:`prime_factors`.

    >>> divisors(61), divisors(12)
    ([1, 61], [1, 2, 3, 4, 6, 12])
    """
    ds = [1]
    for p, e in prime_factors(n).items():
        ds = [d * p ** k for d in ds for k in range(e + 1)]
    return sorted(ds)
