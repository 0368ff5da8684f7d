"""First names for the naming policy's person rule, from the ``faker`` package.

An adapter: the domain (``charter.domain.naming``) takes names as a plain
frozenset and imports nothing third-party; this module is where they come from.
Faker (MIT) maintains per-locale first-name lists; we read the data only, never
generate anything random.
"""

from __future__ import annotations

import importlib
import unicodedata
from collections.abc import Iterable, Iterator
from functools import lru_cache

from charter.domain import wordlists
from charter.domain.naming import NamingPolicy

# Locales whose names are common in teams that name models; more locales catch more
# names but also more ordinary words, which the allow-list must absorb. en_IN, not
# hi_IN: hi_IN's names are in Devanagari and could never match an ASCII token.
LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "nl_NL", "en_IN")
MIN_NAME_LENGTH = 3  # two-letter names ("al", "bo") collide with too many abbreviations


@lru_cache(maxsize=8)
def first_names(locales: tuple[str, ...] = LOCALES) -> frozenset[str]:
    """Lowercase ASCII first names of at least three letters from ``locales``."""
    names: set[str] = set()
    for locale in locales:
        names.update(filter(None, map(_usable, _locale_first_names(locale))))
    return frozenset(names)


class FirstNamesOnUse(frozenset[str]):
    """``first_names()``, read on the first lookup rather than when the policy is built.

    Importing Faker costs more than the rest of opening a registry, and only a naming
    check needs the names: ``charter ls`` opens the registry and never asks. The rules
    only ask ``token in names`` (``domain/naming_rules.py``); iterating and ``len``
    answer from the real set too."""

    def __contains__(self, token: object) -> bool:
        return token in first_names()

    def __iter__(self) -> Iterator[str]:
        return iter(first_names())

    def __len__(self) -> int:
        return len(first_names())


def default_policy(mode: str = "enforce", allow: Iterable[str] = ()) -> NamingPolicy:
    """The shipped policy with real first names; ``allow`` extends the default allow-list."""
    extra = {str(token).strip().lower() for token in allow}
    return NamingPolicy(mode=mode, person_names=FirstNamesOnUse(),
                        allow=wordlists.ALLOWED_TOKENS | extra)


def _locale_first_names(locale: str) -> Iterable[str]:
    try:
        module = importlib.import_module(f"faker.providers.person.{locale}")
    except ModuleNotFoundError:  # locales come and go between Faker releases
        return ()
    # Some locales store names as a weighted OrderedDict: iterating gives the names.
    return getattr(module.Provider, "first_names", ())


def _usable(name: str) -> str:
    """'Renée' -> 'renee'; '' for names a model-name token could never equal."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    folded = folded.lower()
    if not folded.isalpha() or len(folded) < MIN_NAME_LENGTH:
        return ""
    return folded
