# ruff: noqa: RUF001, SIM905  (Cyrillic words; word lists written as text)
"""Chat-like text for the search benchmark: English and Russian words, common ones
often and a long tail rarely (Zipf's law, as in real text), a few to a dozen a message.

The vocabulary ranks the common words below first, English and Russian by turns, each
list in its own order (roughly the languages' frequency order: the most frequent words
are short, as in real text), then made-up words of Latin and Cyrillic syllables (a
stand-in for names, jargon and typos).
"""

from __future__ import annotations

import itertools
import random

ENGLISH = """the be to of and a in that have i it for not on with he as you do at this but
his by from they we say her she or an will my one all would there their what so up out if
about who get which go me when make can like time no just him know take people into year
your good some could them see other than then now look only come its over think also back
after use two how our work first well way even new want because any these give day most us
deploy deployed deploying release build server client database index query search message
chat channel thread reply edit remove image photo link meeting tomorrow today yesterday
morning evening lunch coffee ticket issue bug fix merge branch commit review test tests
failing passing green red ready done later sorry thanks please great cool nice okay sure
problem question answer idea plan budget report customer support password login logout
token cache memory disk network latency timeout retry error warning production staging
monday tuesday wednesday thursday friday weekend holiday office remote call video screen
""".split()

RUSSIAN = """и в не на я быть он с что а по это она этот к но они мы как из у который то за
свой весь год от так о для ты же все тот мочь вы человек такой его сказать только или еще
бы себя один как уже до время если сам когда другой вот говорить наш мой знать стать при
чтобы дело жизнь кто первый очень два день её новый рука даже во со раз где там под можно
ну какой после их работа без самый потом надо хотеть ли слово идти большой должен место
привет пока спасибо пожалуйста сервер клиент база данных индекс запрос поиск сообщение
чат канал ответ правка удалить картинка ссылка встреча завтра сегодня вчера утро вечер
обед кофе задача ошибка исправить ветка коммит ревью тест тесты готово позже извини
отлично хорошо проблема вопрос идея план бюджет отчёт клиенты поддержка пароль вход выход
кэш память диск сеть задержка таймаут повтор предупреждение прод стенд понедельник вторник
среда четверг пятница выходные праздник офис удалённо звонок видео экран выкатка релиз
""".split()

_LATIN = ("ka ro mi ta ne sto ver lin dor pa qu ex zel fin gra tor bel cam dex "
          "jo ul ni sa ri po va te ma lo").split()
_CYRILLIC = ("ка ро ми та не сто вер лин дор па зю ех зел фин гра тор бел кам дек "
             "жо ул ни са ри по ва те ма ло").split()


class Vocabulary:
    """``size`` words ranked by frequency; :meth:`text` draws a message from them."""

    def __init__(self, size: int = 30_000, seed: int = 7) -> None:
        rng = random.Random(seed)
        common = list(dict.fromkeys(
            word for pair in itertools.zip_longest(ENGLISH, RUSSIAN) for word in pair if word))
        made: set[str] = set(common)
        tail: list[str] = []
        while len(common) + len(tail) < size:
            syllables = _LATIN if rng.random() < 0.5 else _CYRILLIC
            word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
            if word not in made:
                made.add(word)
                tail.append(word)
        self.words = common + tail
        weights = [1.0 / rank for rank in range(1, len(self.words) + 1)]
        self._cumulative = list(itertools.accumulate(weights))
        self._rng = random.Random(seed + 1)

    def draw(self, count: int) -> list[str]:
        """``count`` words, each drawn by its frequency."""
        return self._rng.choices(self.words, cum_weights=self._cumulative, k=count)

    def text(self) -> str:
        """One message: 3 to 14 words, sometimes capitalised or with punctuation."""
        words = self.draw(self._rng.randint(3, 14))
        words[0] = words[0].capitalize()
        end = self._rng.choice((".", "!", "?", "", "", ")"))
        return " ".join(words) + end
