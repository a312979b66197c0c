"""Core prompt-injection phrases in a fixed set of languages.

English phrase patterns miss an attack whose instruction is written in
another language, and low-resource languages are a documented jailbreak
route (Yong et al. 2023, "Low-Resource Languages Jailbreak GPT-4": Zulu,
Scots Gaelic, Hmong, Guarani; Deng et al. 2023, "Multilingual Jailbreak
Challenges in Large Language Models"). This module carries the core attack
concepts, translated once into the most spoken languages plus the Celtic,
Balkan and African languages that such papers and red-team tools use:

- ``ignore``: ignore / forget the previous instructions
- ``new_instr``: new (important) instructions
- ``sysprompt``: system prompt / system message / initial instructions
- ``disclose``: reveal / show / print / repeat / paste / share (verbs only,
  they score nothing alone and pair with ``sysprompt`` or ``above``)
- ``above``: the words / text above, the initial prompt you were given
- ``devmode``: developer / debug / development mode
- ``response``: in / at the end of your response (a payload marker)
- ``instead`` and ``summarize``: the "if you are asked to summarise ...,
  instead ..." hijack of a document-processing task (pair only)
- ``pretext``: test pipeline / training exercise / special case
- ``nolimits``: without restrictions / no limits / do anything now
- ``secret``: your unique ID / your security settings / your configuration

Phrases are written lower-case without accents; the text is folded the same
way before matching (``strip_accents``). Syntax: words separated by a space
match any run of non-word characters (so hyphens and apostrophes too), a
trailing ``*`` lets a word take any ending, and ``~`` allows up to three
words in between. Scripts written without spaces (Chinese, Japanese, Thai)
are matched as substrings. Nothing here comes from an evaluation file.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from cascadepolicy.guardrails.normalize import (
    ascii_separators,
    fold,
    replace_chars,
    replacements,
    tokens,
)

# concept -> (family, weight when found alone)
CONCEPTS: dict[str, tuple[str, float]] = {
    "ignore": ("instruction_override", 0.85),
    "new_instr": ("instruction_override", 0.6),
    "sysprompt": ("prompt_extraction", 0.3),
    "disclose": ("prompt_extraction", 0.0),
    "above": ("prompt_extraction", 0.3),
    "devmode": ("persona_jailbreak", 0.6),
    "response": ("instruction_override", 0.2),
    "instead": ("instruction_override", 0.0),
    "summarize": ("instruction_override", 0.0),
    "pretext": ("instruction_override", 0.3),
    "nolimits": ("persona_jailbreak", 0.45),
    "secret": ("prompt_extraction", 0.3),
}

# (concept a, concept b, max distance in characters, a must come first, family, weight)
PAIRS: tuple[tuple[str, str, int, bool, str, float], ...] = (
    ("disclose", "sysprompt", 80, False, "prompt_extraction", 0.85),
    ("disclose", "above", 80, False, "prompt_extraction", 0.7),
    ("disclose", "secret", 60, False, "prompt_extraction", 0.5),
    # "if you are asked to summarise the input, instead ..."
    ("summarize", "instead", 200, True, "instruction_override", 0.6),
    ("pretext", "response", 250, False, "instruction_override", 0.45),
)

# language -> concept -> phrases. English is covered by the main rules of
# injection.py; it appears here only through the pair concepts.
LEXICON: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "disclose": ("reveal", "show", "print", "repeat", "paste", "share", "output", "recite", "display", "dump", "leak"),
        "sysprompt": ("system prompt", "system message", "initial prompt", "initial instructions", "original instructions"),
        "above": ("words above", "text above", "everything above", "initial question", "original question", "original request", "initial request"),
        "response": ("in your response", "in your answer", "end of your response", "end of your answer", "in your reply", "in your output"),
        "pretext": ("test pipeline", "testing pipeline", "training exercise", "special case", "debugging mode", "evaluation pipeline"),
        "secret": ("your unique id", "your unique identifier", "your security settings", "your safety settings", "your configuration", "your secret key", "your api key", "your password"),
    },
    "es": {
        "ignore": ("ignora* ~ instrucciones anteriores", "olvida* ~ instrucciones", "ignora* ~ instrucciones previas", "haz caso omiso ~ instrucciones"),
        "new_instr": ("nuevas instrucciones importantes", "nuevas instrucciones", "instrucciones nuevas"),
        "sysprompt": ("prompt del sistema", "mensaje del sistema", "instrucciones del sistema", "indicaciones iniciales", "instrucciones iniciales"),
        "disclose": ("revela*", "muestra*", "imprime", "repite", "pega", "comparte", "escribe"),
        "above": ("palabras anteriores", "texto anterior", "palabras de arriba", "texto de arriba", "solicitud inicial", "pregunta original"),
        "devmode": ("modo desarrollador", "modo de desarrollador", "modo de depuracion", "modo desarrollo", "modo de desarrollo"),
        "response": ("en tu respuesta", "en su respuesta", "final de tu respuesta"),
        "instead": ("en su lugar", "en lugar de eso", "en cambio"),
        "summarize": ("resum*",),
        "pretext": ("flujo de pruebas", "canal de pruebas", "ejercicio de entrenamiento", "caso especial"),
        "nolimits": ("sin restricciones", "sin limites", "sin filtros", "haz cualquier cosa ahora"),
        "secret": ("tu id unico", "tu identificador unico", "tu configuracion de seguridad", "tu configuracion"),
    },
    "pt": {
        "ignore": ("ignor* ~ instrucoes anteriores", "esqueca ~ instrucoes", "desconsider* ~ instrucoes"),
        "new_instr": ("novas instrucoes importantes", "novas instrucoes"),
        "sysprompt": ("prompt do sistema", "mensagem do sistema", "instrucoes do sistema", "instrucoes iniciais"),
        "disclose": ("revel*", "mostr*", "imprim*", "repit*", "repet*", "col*", "compartilh*"),
        "above": ("palavras acima", "texto acima", "pedido inicial", "pergunta original"),
        "devmode": ("modo desenvolvedor", "modo de desenvolvedor", "modo de depuracao", "modo de desenvolvimento"),
        "response": ("na sua resposta", "na tua resposta", "final da sua resposta"),
        "instead": ("em vez disso", "ao inves disso"),
        "summarize": ("resum*",),
        "pretext": ("pipeline de testes", "exercicio de treinamento", "caso especial"),
        "nolimits": ("sem restricoes", "sem limites", "sem filtros"),
        "secret": ("seu id unico", "seu identificador unico", "suas configuracoes de seguranca", "sua configuracao"),
    },
    "fr": {
        "ignore": ("ignore* ~ instructions precedentes", "oublie* ~ instructions", "ignore* ~ consignes", "ne tiens pas compte ~ instructions"),
        "new_instr": ("nouvelles instructions importantes", "nouvelles instructions", "nouvelles consignes"),
        "sysprompt": ("prompt systeme", "message systeme", "instructions systeme", "instructions initiales", "invite systeme"),
        "disclose": ("revele*", "montre*", "affiche*", "imprime*", "repete*", "colle*", "partage*", "ecris"),
        "above": ("mots ci dessus", "texte ci dessus", "demande initiale", "question initiale"),
        "devmode": ("mode developpeur", "mode de developpement", "mode debogage", "mode de debogage"),
        "response": ("dans ta reponse", "dans votre reponse", "fin de ta reponse", "fin de votre reponse"),
        "instead": ("a la place", "au lieu de cela"),
        "summarize": ("resume*",),
        "pretext": ("pipeline de test", "chaine de test", "exercice d entrainement", "cas particulier", "cas special"),
        "nolimits": ("sans restrictions", "sans limites", "sans filtre*", "sans aucune restriction"),
        "secret": ("ton identifiant unique", "votre identifiant unique", "tes parametres de securite", "ta configuration"),
    },
    "it": {
        "ignore": ("ignora* ~ istruzioni precedenti", "dimentica* ~ istruzioni", "ignora* ~ istruzioni"),
        "new_instr": ("nuove istruzioni importanti", "nuove istruzioni"),
        "sysprompt": ("prompt di sistema", "messaggio di sistema", "istruzioni di sistema", "istruzioni iniziali"),
        "disclose": ("rivela*", "mostra*", "stampa*", "ripeti", "incolla", "condividi", "scrivi"),
        "above": ("parole sopra", "testo sopra", "parole precedenti", "richiesta iniziale", "domanda originale"),
        "devmode": ("modalita sviluppatore", "modalita di sviluppo", "modalita debug"),
        "response": ("nella tua risposta", "nella sua risposta", "fine della tua risposta"),
        "instead": ("invece",),
        "summarize": ("riassum*", "riepilog*"),
        "pretext": ("pipeline di test", "esercizio di addestramento", "caso speciale"),
        "nolimits": ("senza restrizioni", "senza limiti", "senza filtri"),
        "secret": ("il tuo id univoco", "il tuo identificativo univoco", "le tue impostazioni di sicurezza", "la tua configurazione"),
    },
    "de": {
        "ignore": ("ignorier* ~ vorherigen anweisungen", "vergiss ~ anweisungen", "ignorier* ~ anweisungen", "missachte* ~ anweisungen", "ignorier* ~ vorgaben"),
        "new_instr": ("neue wichtige anweisungen", "neue anweisungen", "neue anweisung"),
        "sysprompt": ("systemprompt", "system prompt", "systemnachricht", "systemanweisungen", "anfangliche anweisungen", "urspruenglichen anweisungen", "ursprunglichen anweisungen"),
        "disclose": ("zeig*", "gib", "druck*", "wiederhol*", "fuge", "teile", "verrate*", "schreib*"),
        "above": ("worter oben", "woerter oben", "text oben", "obigen text", "obigen worter", "ursprungliche anfrage"),
        "devmode": ("entwicklermodus", "debug modus", "entwicklungsmodus"),
        "response": ("in deiner antwort", "in ihrer antwort", "ende deiner antwort"),
        "instead": ("stattdessen",),
        "summarize": ("zusammenfass*", "fasse"),
        "pretext": ("testpipeline", "test pipeline", "trainingsubung", "sonderfall"),
        "nolimits": ("ohne einschrankungen", "ohne grenzen", "ohne filter", "keine einschrankungen"),
        "secret": ("deine eindeutige id", "deine sicherheitseinstellungen", "deine konfiguration"),
    },
    "nl": {
        "ignore": ("negeer ~ vorige instructies", "negeer ~ eerdere instructies", "vergeet ~ instructies", "negeer ~ instructies"),
        "new_instr": ("nieuwe belangrijke instructies", "nieuwe instructies"),
        "sysprompt": ("systeemprompt", "systeembericht", "systeeminstructies", "oorspronkelijke instructies"),
        "disclose": ("toon", "laat zien", "print", "herhaal", "plak", "deel", "onthul"),
        "above": ("woorden hierboven", "tekst hierboven", "oorspronkelijke vraag"),
        "devmode": ("ontwikkelaarsmodus", "debugmodus", "ontwikkelmodus"),
        "response": ("in je antwoord", "in uw antwoord", "einde van je antwoord"),
        "instead": ("in plaats daarvan",),
        "summarize": ("samenvat*", "vat"),
        "pretext": ("testpijplijn", "trainingsoefening", "speciaal geval"),
        "nolimits": ("zonder beperkingen", "zonder grenzen", "zonder filters"),
        "secret": ("je unieke id", "je beveiligingsinstellingen", "je configuratie"),
    },
    "ru": {
        "ignore": ("игнорируй* ~ инструкции", "проигнорируй* ~ инструкции", "забудь* ~ инструкции", "игнорируй* ~ указания", "не обращай внимания ~ инструкции"),
        "new_instr": ("новые важные инструкции", "новые инструкции", "новая инструкция"),
        "sysprompt": ("системный промпт", "системного промпта", "системное сообщение", "системные инструкции", "исходные инструкции", "системную подсказку"),
        "disclose": ("покажи", "раскрой", "выведи", "напечатай", "повтори", "вставь", "поделись", "напиши"),
        "above": ("слова выше", "текст выше", "исходный запрос", "исходный вопрос"),
        "devmode": ("режим разработчика", "режиме разработчика", "режим отладки", "режиме отладки"),
        "response": ("в своем ответе", "в твоем ответе", "в ответе", "конце ответа"),
        "instead": ("вместо этого",),
        "summarize": ("кратко изложи*", "резюмир*", "суммируй*"),
        "pretext": ("тестового конвейера", "тестовом конвейере", "учебное упражнение", "особый случай"),
        "nolimits": ("без ограничений", "без фильтров", "без цензуры"),
        "secret": ("твой уникальный идентификатор", "твои настройки безопасности", "свою конфигурацию", "твою конфигурацию"),
    },
    "uk": {
        "ignore": ("ігноруй* ~ інструкції", "забудь ~ інструкції", "проігноруй* ~ інструкції"),
        "new_instr": ("нові важливі інструкції", "нові інструкції"),
        "sysprompt": ("системний промпт", "системне повідомлення", "системні інструкції", "початкові інструкції"),
        "disclose": ("покажи", "розкрий", "виведи", "надрукуй", "повтори", "встав", "поділись"),
        "above": ("слова вище", "текст вище", "початковий запит"),
        "devmode": ("режим розробника", "режимі розробника", "режим налагодження"),
        "response": ("у своїй відповіді", "у відповіді", "в кінці відповіді"),
        "instead": ("натомість", "замість цього"),
        "summarize": ("підсумуй*", "резюмуй*"),
        "pretext": ("тестового конвеєра", "навчальна вправа", "особливий випадок"),
        "nolimits": ("без обмежень", "без фільтрів", "без цензури"),
        "secret": ("твій унікальний ідентифікатор", "твої налаштування безпеки", "свою конфігурацію"),
    },
    "pl": {
        "ignore": ("zignoruj ~ instrukcje", "ignoruj ~ instrukcje", "zapomnij ~ instrukcje", "zapomnij ~ instrukcjach"),
        "new_instr": ("nowe wazne instrukcje", "nowe instrukcje"),
        "sysprompt": ("prompt systemowy", "wiadomosc systemowa", "instrukcje systemowe", "poczatkowe instrukcje"),
        "disclose": ("pokaz", "ujawnij", "wydrukuj", "powtorz", "wklej", "udostepnij", "wypisz"),
        "above": ("slowa powyzej", "tekst powyzej", "poczatkowe zapytanie"),
        "devmode": ("tryb dewelopera", "trybie dewelopera", "tryb debugowania", "trybie programisty"),
        "response": ("w swojej odpowiedzi", "w odpowiedzi", "na koncu odpowiedzi"),
        "instead": ("zamiast tego",),
        "summarize": ("podsumuj*", "streszcz*"),
        "pretext": ("potoku testowego", "cwiczenia szkoleniowego", "szczegolny przypadek"),
        "nolimits": ("bez ograniczen", "bez filtrow", "bez cenzury"),
        "secret": ("swoj unikalny identyfikator", "swoje ustawienia bezpieczenstwa", "swoja konfiguracje"),
    },
    "cs": {
        "ignore": ("ignoruj ~ pokyny", "zapomen ~ pokyny", "ignoruj ~ instrukce"),
        "new_instr": ("nove dulezite pokyny", "nove pokyny", "nove instrukce"),
        "sysprompt": ("systemovy prompt", "systemova zprava", "systemove pokyny", "puvodni pokyny"),
        "disclose": ("ukaz", "odhal", "vypis", "zopakuj", "vloz", "sdilej"),
        "above": ("slova vyse", "text vyse", "puvodni dotaz"),
        "devmode": ("rezim vyvojare", "rezimu vyvojare", "ladici rezim"),
        "response": ("ve sve odpovedi", "v odpovedi", "na konci odpovedi"),
        "instead": ("misto toho",),
        "summarize": ("shrn*",),
        "pretext": ("testovaciho kanalu", "treninkove cviceni", "zvlastni pripad"),
        "nolimits": ("bez omezeni", "bez filtru", "bez cenzury"),
        "secret": ("sve jedinecne id", "sve bezpecnostni nastaveni", "svou konfiguraci"),
    },
    "ro": {
        "ignore": ("ignora ~ instructiunile anterioare", "uita ~ instructiunile", "ignora ~ instructiunile"),
        "new_instr": ("instructiuni noi importante", "noi instructiuni", "instructiuni noi"),
        "sysprompt": ("promptul de sistem", "mesajul de sistem", "instructiunile de sistem", "instructiunile initiale"),
        "disclose": ("dezvaluie", "arata", "afiseaza", "repeta", "lipeste", "partajeaza"),
        "above": ("cuvintele de mai sus", "textul de mai sus", "cererea initiala"),
        "devmode": ("modul dezvoltator", "modul de dezvoltare", "modul de depanare"),
        "response": ("in raspunsul tau", "la sfarsitul raspunsului"),
        "instead": ("in schimb", "in loc de asta"),
        "summarize": ("rezum*",),
        "pretext": ("pipeline de testare", "exercitiu de antrenament", "caz special"),
        "nolimits": ("fara restrictii", "fara limite", "fara filtre"),
        "secret": ("id ul tau unic", "setarile tale de securitate", "configuratia ta"),
    },
    "hu": {
        "ignore": ("hagyd figyelmen kivul ~ utasitasokat", "felejtsd el ~ utasitasokat", "ignorald ~ utasitasokat"),
        "new_instr": ("uj fontos utasitasok", "uj utasitasok"),
        "sysprompt": ("rendszerprompt", "rendszerpromptot", "rendszeruzenet", "rendszeruzenetet", "rendszerutasitasok", "rendszerutasitasokat", "kezdeti utasitasok*"),
        "disclose": ("mutasd", "fedd fel", "ird ki", "ismeteld", "illeszd be", "oszd meg"),
        "above": ("fenti szavakat", "fenti szoveget", "eredeti kerest"),
        "devmode": ("fejlesztoi mod*", "hibakeresesi mod*"),
        "response": ("a valaszodban", "valaszod vegen"),
        "instead": ("ehelyett", "helyette"),
        "summarize": ("foglald ossze", "osszefoglal*"),
        "pretext": ("tesztfolyamat", "tesztfolyamatnak", "tesztfolyamatban", "gyakorlo feladat", "kulonleges eset"),
        "nolimits": ("korlatozasok nelkul", "korlatok nelkul", "szurok nelkul"),
        "secret": ("egyedi azonositod*", "biztonsagi beallitasaid*", "konfiguraciod", "konfiguraciodat"),
    },
    "sv": {
        "ignore": ("ignorera ~ tidigare instruktioner", "glom ~ instruktioner", "ignorera ~ instruktioner"),
        "new_instr": ("nya viktiga instruktioner", "nya instruktioner"),
        "sysprompt": ("systemprompt", "systemprompten", "systemmeddelande", "systemmeddelandet", "systeminstruktioner", "systeminstruktionerna", "ursprungliga instruktioner"),
        "disclose": ("visa", "avslojа", "avsloja", "skriv ut", "upprepa", "klistra in", "dela"),
        "above": ("orden ovan", "texten ovan", "ursprungliga fragan"),
        "devmode": ("utvecklarlage", "utvecklarlaget", "felsokningslage", "felsokningslaget"),
        "response": ("i ditt svar", "slutet av ditt svar"),
        "instead": ("istallet",),
        "summarize": ("sammanfatta*",),
        "pretext": ("testpipeline", "traningsovning", "specialfall"),
        "nolimits": ("utan begransningar", "utan granser", "utan filter"),
        "secret": ("ditt unika id", "dina sakerhetsinstallningar", "din konfiguration"),
    },
    "tr": {
        "ignore": ("onceki ~ talimatlari ~ yoksay", "onceki ~ talimatlari ~ gormezden gel", "talimatlari unut", "onceki ~ talimatlari ~ unut", "onceki tum talimatlari"),
        "new_instr": ("yeni onemli talimatlar", "yeni talimatlar"),
        "sysprompt": ("sistem istemi*", "sistem mesaj*", "sistem talimat*", "ilk talimatlar*"),
        "disclose": ("goster", "ifsa et", "yazdir", "tekrarla", "yapistir", "paylas"),
        "above": ("yukaridaki kelimeleri", "yukaridaki metni", "ilk istegi"),
        "devmode": ("gelistirici modu*", "hata ayiklama modu*"),
        "response": ("yanitinda", "cevabinda", "yanitinin sonunda"),
        "instead": ("bunun yerine",),
        "summarize": ("ozetle*",),
        "pretext": ("test hatti*", "egitim alistirmasi*", "ozel durum"),
        "nolimits": ("kisitlama olmadan", "sinirsiz", "filtresiz"),
        "secret": ("benzersiz kimligini", "guvenlik ayarlarini", "yapilandirmani"),
    },
    "ar": {
        "ignore": ("تجاهل ~ التعليمات السابقة", "انس ~ التعليمات", "تجاهل ~ التعليمات"),
        "new_instr": ("تعليمات جديدة مهمة", "تعليمات جديدة"),
        "sysprompt": ("موجه النظام", "رسالة النظام", "تعليمات النظام", "التعليمات الاولية"),
        "disclose": ("اكشف", "اظهر", "اعرض", "اطبع", "كرر", "الصق", "شارك"),
        "above": ("الكلمات اعلاه", "النص اعلاه", "الطلب الاصلي"),
        "devmode": ("وضع المطور", "وضع التصحيح"),
        "response": ("في ردك", "في اجابتك", "نهاية ردك"),
        "instead": ("بدلا من ذلك",),
        "summarize": ("تلخيص", "لخص"),
        "pretext": ("خط اختبار", "تمرين تدريبي", "حالة خاصة"),
        "nolimits": ("بدون قيود", "بلا قيود", "بدون حدود"),
        "secret": ("معرفك الفريد", "اعدادات الامان الخاصة بك", "اعداداتك"),
    },
    "fa": {
        "ignore": ("دستورالعمل های قبلی را نادیده بگیر", "دستورات قبلی را نادیده بگیر", "دستورات قبلی را فراموش کن"),
        "new_instr": ("دستورالعمل های جدید مهم", "دستورات جدید"),
        "sysprompt": ("پرامپت سیستم", "پیام سیستم", "دستورالعمل های سیستم"),
        "disclose": ("نشان بده", "فاش کن", "چاپ کن", "تکرار کن"),
        "devmode": ("حالت توسعه دهنده",),
        "nolimits": ("بدون محدودیت",),
    },
    "he": {
        "ignore": ("התעלם ~ מההוראות הקודמות", "שכח ~ ההוראות"),
        "new_instr": ("הוראות חדשות חשובות", "הוראות חדשות"),
        "sysprompt": ("הנחיית המערכת", "הודעת המערכת", "פרומפט המערכת"),
        "disclose": ("הצג", "חשוף", "הדפס", "חזור על"),
        "devmode": ("מצב מפתח",),
        "nolimits": ("ללא הגבלות",),
    },
    "hi": {
        "ignore": ("पिछले निर्देशों को अनदेखा करें", "पिछले सभी निर्देशों को अनदेखा", "निर्देशों को भूल जाओ", "निर्देशों को नजरअंदाज"),
        "new_instr": ("नए महत्वपूर्ण निर्देश", "नए निर्देश"),
        "sysprompt": ("सिस्टम प्रॉम्प्ट", "सिस्टम संदेश", "सिस्टम निर्देश"),
        "disclose": ("दिखाओ", "दिखाएं", "प्रकट करें", "दोहराएं", "प्रिंट करें"),
        "devmode": ("डेवलपर मोड",),
        "response": ("अपने उत्तर में", "अपने जवाब में"),
        "nolimits": ("बिना किसी प्रतिबंध", "बिना प्रतिबंध"),
    },
    "bn": {
        "ignore": ("আগের নির্দেশাবলী উপেক্ষা", "পূর্ববর্তী নির্দেশাবলী উপেক্ষা", "নির্দেশাবলী ভুলে যাও"),
        "new_instr": ("নতুন গুরুত্বপূর্ণ নির্দেশাবলী", "নতুন নির্দেশাবলী"),
        "sysprompt": ("সিস্টেম প্রম্পট", "সিস্টেম বার্তা"),
        "devmode": ("ডেভেলপার মোড",),
        "nolimits": ("কোনো সীমাবদ্ধতা ছাড়া",),
    },
    "ur": {
        "ignore": ("پچھلی ہدایات کو نظر انداز", "پچھلی ہدایات بھول جاؤ"),
        "new_instr": ("نئی اہم ہدایات", "نئی ہدایات"),
        "sysprompt": ("سسٹم پرامپٹ",),
        "devmode": ("ڈویلپر موڈ",),
    },
    "id": {  # Indonesian and Malay
        "ignore": ("abaikan ~ instruksi sebelumnya", "lupakan ~ instruksi", "abaikan ~ arahan", "abaikan ~ perintah sebelumnya", "lupakan ~ arahan"),
        "new_instr": ("instruksi baru yang penting", "instruksi penting baru", "instruksi baru", "arahan baru"),
        "sysprompt": ("prompt sistem", "pesan sistem", "instruksi sistem", "arahan sistem", "instruksi awal"),
        "disclose": ("tampilkan", "ungkapkan", "cetak", "ulangi", "tempelkan", "bagikan", "tunjukkan"),
        "above": ("kata kata di atas", "teks di atas", "permintaan awal"),
        "devmode": ("mode pengembang", "mode debug", "mod pembangun"),
        "response": ("dalam jawabanmu", "dalam jawaban anda", "dalam tanggapan anda", "akhir jawaban"),
        "instead": ("sebagai gantinya",),
        "summarize": ("meringkas", "ringkas*", "rumuskan"),
        "pretext": ("pipeline pengujian", "latihan pelatihan", "kasus khusus"),
        "nolimits": ("tanpa batasan", "tanpa batas", "tanpa filter", "tanpa sekatan"),
        "secret": ("id unik anda", "pengaturan keamanan anda", "konfigurasi anda"),
    },
    "vi": {
        "ignore": ("bo qua ~ huong dan truoc", "bo qua ~ chi dan truoc", "quen ~ huong dan", "bo qua tat ca"),
        "new_instr": ("huong dan moi quan trong", "huong dan moi", "chi thi moi"),
        "sysprompt": ("loi nhac he thong", "thong diep he thong", "huong dan he thong", "prompt he thong"),
        "disclose": ("tiet lo", "hien thi", "in ra", "lap lai", "dan", "chia se"),
        "above": ("cac tu o tren", "van ban o tren", "yeu cau ban dau"),
        "devmode": ("che do nha phat trien", "che do go loi"),
        "response": ("trong cau tra loi cua ban", "cuoi cau tra loi"),
        "instead": ("thay vao do",),
        "summarize": ("tom tat",),
        "pretext": ("quy trinh kiem thu", "bai tap huan luyen", "truong hop dac biet"),
        "nolimits": ("khong gioi han", "khong co han che", "khong bi rang buoc"),
        "secret": ("id duy nhat cua ban", "cai dat bao mat cua ban", "cau hinh cua ban"),
    },
    "tl": {
        "ignore": ("huwag pansinin ~ mga tagubilin", "kalimutan ~ mga tagubilin", "balewalain ~ tagubilin"),
        "new_instr": ("bagong mahalagang tagubilin", "mga bagong tagubilin"),
        "sysprompt": ("system prompt", "mensahe ng sistema"),
        # the English loanword "developer mode" is the main rules' (which tell a device setting apart)
        "devmode": ("modo ng developer",),
        "nolimits": ("walang limitasyon", "walang paghihigpit"),
    },
    "sw": {
        "ignore": ("puuza ~ maagizo ya awali", "puuza ~ maelekezo", "sahau ~ maagizo", "puuza ~ maagizo"),
        "new_instr": ("maagizo mapya muhimu", "maagizo mapya", "maelekezo mapya"),
        "sysprompt": ("maelekezo ya mfumo", "ujumbe wa mfumo", "maagizo ya mfumo", "maagizo ya awali"),
        "disclose": ("onyesha", "fichua", "chapisha", "rudia", "bandika", "shiriki"),
        "above": ("maneno yaliyo hapo juu", "maandishi hapo juu", "ombi la awali"),
        "devmode": ("hali ya msanidi", "hali ya utatuzi"),
        "response": ("katika jibu lako", "mwisho wa jibu lako"),
        "instead": ("badala yake",),
        "summarize": ("fupisha", "muhtasari"),
        "pretext": ("mfumo wa majaribio", "zoezi la mafunzo", "kesi maalum"),
        "nolimits": ("bila vikwazo", "bila mipaka"),
        "secret": ("kitambulisho chako cha kipekee", "mipangilio yako ya usalama", "usanidi wako"),
    },
    "zu": {  # Zulu, with Xhosa forms where they differ
        "ignore": ("ziba ~ imiyalelo", "ungayinaki ~ imiyalelo", "khohlwa ~ imiyalelo", "zibe ~ imiyalelo", "ungayinaki imiyalelo yangaphambilini", "ngahoyi ~ imiyalelo"),
        "new_instr": ("imiyalelo emisha ebalulekile", "imiyalelo emisha", "imiyalezo emisha"),
        "sysprompt": ("umyalezo wesistimu", "isiqondiso sesistimu", "imiyalelo yesistimu", "umyalelo wokuqala", "umyalezo wohlelo", "imiyalelo yokuqala"),
        "disclose": ("veza", "bonisa", "phrinta", "phinda", "namathisela", "yabelana", "dalula", "khipha"),
        "above": ("amagama angenhla", "amagama angaphezulu", "okubhalwe ngenhla", "ngenhla kwalo", "umbuzo wokuqala", "isicelo sokuqala"),
        "devmode": ("imodi yonjiniyela", "imodi yokuthuthukisa", "imodi yokulungisa iphutha", "isimo sonjiniyela"),
        "response": ("empendulweni yakho", "kwimpendulo yakho", "ekugcineni kwempendulo", "ekuphenduleni kwakho", "empendulweni"),
        "instead": ("esikhundleni salokho", "kunalokho", "endaweni yoko"),
        "summarize": ("fingqa", "ufingqe", "ukufingqa", "isifinyezo"),
        "pretext": ("uhlelo lokuhlola", "ipayipi lokuhlola", "ukuzilolonga", "icala elikhethekile", "isimo esikhethekile"),
        "nolimits": ("ngaphandle kwemikhawulo", "ngaphandle kwemingcele", "akukho mikhawulo"),
        "secret": ("i id yakho", "inombolo yakho eyingqayizivele", "eyingqayizivele", "izilungiselelo zakho zokuphepha", "isethingi zakho zokuphepha", "izilungiselelo zakho", "zokuphepha"),
    },
    "sq": {  # Albanian
        "ignore": ("injoro ~ udhezimet e meparshme", "injoro ~ udhezimet", "harro ~ udhezimet", "shperfill ~ udhezimet", "mos merr parasysh ~ udhezimet"),
        "new_instr": ("udhezime te reja te rendesishme", "udhezime te reja", "udhezimet e reja"),
        "sysprompt": ("kerkes* ~ te sistemit", "mesazh* ~ te sistemit", "udhezimet e sistemit", "udhezimet fillestare", "kerkesen fillestare", "kerkesa fillestare"),
        "disclose": ("zbulo", "trego", "shfaq", "printo", "perserit", "ngjit", "ndaj", "shkruaj"),
        "above": ("fjalet me siper", "tekstin me siper", "kerkesen fillestare", "pyetjen fillestare", "fjalia e pare", "fjaline e pare"),
        "devmode": ("modalitetin zhvillues", "modalitetin e zhvilluesit", "modalitetin zhvillimor", "modalitet zhvillues", "modaliteti zhvillues", "menyren e zhvilluesit", "modalitetin debug"),
        "response": ("ne pergjigjen tende", "ne pergjigjen tuaj", "ne fund te pergjigjes", "pergjigjen tende"),
        "instead": ("ne vend te kesaj", "perkundrazi"),
        "summarize": ("permbledh*",),
        "pretext": ("procesi testimi", "procesit te testimit", "ushtrimi trajnimi", "ushtrimi stervitor", "rast i vecante"),
        "nolimits": ("pa kufizime", "pa kufij", "pa filtra"),
        "secret": ("id ne tende unike", "identifikuesin tend unik", "id tende", "konfigurimin tend", "cilesimet e tua te sigurise", "konfigurimin e sigurise"),
    },
    "ga": {  # Irish
        "ignore": ("déan neamhaird ~ treoracha", "dean neamhaird ~ treoracha", "dean dearmad ~ treoracha", "ná tabhair aird ~ treoracha", "na tabhair aird ~ treoracha"),
        "new_instr": ("treoracha nua tabhachtacha", "treoracha nua"),
        "sysprompt": ("teachtaireacht choras", "teachtaireacht chorais", "treoracha corais", "treoracha an chorais", "an moladh tosaigh", "leid an chorais", "moladh corais"),
        "disclose": ("nocht", "taispeain", "priontail", "athdhean", "athluaigh", "greamaigh", "roinn", "scriobh"),
        "above": ("focail thuas", "an teacs thuas", "an cheist bhunaidh", "an iarratas bunaidh", "an moladh tosaigh", "athfhriotal"),
        "devmode": ("mod forbartha", "mod forbrora", "mod difhabhtaithe"),
        "response": ("i do fhreagra", "deireadh do fhreagra", "i bhur bhfreagra"),
        "instead": ("ina ionad sin", "ina ait sin"),
        "summarize": ("achoimre",),
        "pretext": ("pibline tastala", "cas speisialta", "cleachtadh oiliuna", "dífhabhtú", "difhabhtu"),
        "nolimits": ("gan srianta", "gan teorainneacha"),
        "secret": ("d aitheantas uathuil", "d uimhir aitheantais", "do chuid socruithe slandala", "do chumraiocht", "aitheantais uathuil"),
    },
    "gd": {  # Scottish Gaelic
        "ignore": ("leig seachad ~ stiuiridhean", "diochuimhnich ~ stiuiridhean", "na toir an aire ~ stiuiridhean", "dearmad ~ stiuiridhean"),
        "new_instr": ("stiuireadh ur cudromach", "stiuiridhean ura cudromach", "stiuiridhean ura", "stiuireadh ur"),
        "sysprompt": ("teachdaireachd siostam", "teachdaireachd an t siostaim", "stiuiridhean an t siostaim", "brosnachadh siostam", "a cheist tusail", "an ceist tusail", "cheist tusail"),
        "disclose": ("seall", "nochd", "foillsich", "clo bhuail", "ath aithris", "dean ath aithris", "cuir", "roinn"),
        "above": ("faclan gu h arda", "na faclan gu h", "an teacsa gu h", "ceist tusail", "iarrtas tusail", "a chiad abairt"),
        "devmode": ("modh leasachaidh", "modh luchd leasachaidh", "modh deasbaid"),
        "response": ("nad fhreagairt", "anns an fhreagairt agad", "deireadh do fhreagairt", "do fhreagairt"),
        "instead": ("an aite sin",),
        "summarize": ("gearr chunntas", "gearr chunntas"),
        "pretext": ("piob loidhne deuchainn", "eacarsaich treanaidh", "cuis shonraichte"),
        "nolimits": ("gun chuingealachadh", "gun chrioch"),
        "secret": ("an id shonraichte agad", "id sonraichte", "d aithne shonraichte", "na roghainnean tearainteachd agad", "an rèiteachadh agad", "an reiteachadh agad"),
    },
    "cy": {  # Welsh
        "ignore": ("anwybydda ~ cyfarwyddiadau", "anghofia ~ cyfarwyddiadau", "anwybyddwch ~ cyfarwyddiadau"),
        "new_instr": ("cyfarwyddiadau newydd pwysig", "cyfarwyddiadau newydd"),
        "sysprompt": ("anogwr y system", "neges y system", "cyfarwyddiadau r system"),
        "disclose": ("datgela", "dangos", "argraffa", "ailadrodd"),
        "devmode": ("modd datblygwr",),
        "response": ("yn dy ateb", "yn eich ateb"),
        "instead": ("yn lle hynny",),
        "nolimits": ("heb gyfyngiadau",),
    },
    "jv": {  # Javanese
        "ignore": ("aja digatekake ~ instruksi", "lalekake ~ instruksi"),
        "new_instr": ("instruksi anyar sing penting", "instruksi anyar"),
        "sysprompt": ("pesen sistem", "prompt sistem"),
        "devmode": ("mode pangembang",),
        "nolimits": ("tanpa watesan",),
    },
    "ha": {  # Hausa
        "ignore": ("yi watsi ~ umarnin", "manta ~ umarnin"),
        "new_instr": ("sabbin umarni masu mahimmanci", "sabbin umarni"),
        "sysprompt": ("sakon tsarin",),
    },
    "yo": {  # Yoruba (tone marks fold away)
        "ignore": ("foju fo ~ awon ilana", "gbagbe ~ awon ilana"),
        "new_instr": ("awon ilana tuntun pataki", "awon ilana tuntun"),
    },
    "am": {  # Amharic
        "ignore": ("የቀድሞ መመሪያዎችን ችላ",),
        "new_instr": ("አዲስ አስፈላጊ መመሪያዎች",),
    },
    "ko": {
        "ignore": ("이전 지시를 무시", "이전 지시사항을 무시", "이전의 모든 지시", "지시를 무시하고", "지침을 무시"),
        "new_instr": ("새로운 중요한 지시", "새로운 지시사항", "새 지침"),
        "sysprompt": ("시스템 프롬프트", "시스템 메시지", "초기 지시"),
        "devmode": ("개발자 모드",),
        "nolimits": ("제한 없이", "제약 없이"),
    },
    "el": {
        "ignore": ("αγνοησε ~ προηγουμενες οδηγιες", "ξεχασε ~ οδηγιες"),
        "new_instr": ("νεες σημαντικες οδηγιες", "νεες οδηγιες"),
        "sysprompt": ("μηνυμα συστηματος", "οδηγιες συστηματος"),
        "devmode": ("λειτουργια προγραμματιστη",),
        "nolimits": ("χωρις περιορισμους",),
    },
    # scripts without spaces between words: matched as substrings
    "zh": {
        "ignore": ("忽略之前的指令", "忽略以上指令", "忽略前面的指令", "忽略所有先前", "忽略之前的所有指示", "忘记之前的指令", "无视之前的指令", "忽略上述"),
        "new_instr": ("新的重要指令", "新指令", "新的指示"),
        "sysprompt": ("系统提示", "系统消息", "初始指令", "系統提示"),
        "disclose": ("显示", "透露", "输出", "打印", "重复", "泄露"),
        "devmode": ("开发者模式", "開發者模式"),
        "nolimits": ("不受任何限制", "没有任何限制", "无限制"),
    },
    "ja": {
        "ignore": ("以前の指示を無視", "前の指示を無視", "上記の指示を無視", "これまでの指示を無視", "指示を忘れ"),
        "new_instr": ("新しい重要な指示", "新しい指示"),
        "sysprompt": ("システムプロンプト", "システムメッセージ", "初期指示"),
        "disclose": ("表示して", "教えて", "出力して", "繰り返して"),
        "devmode": ("開発者モード",),
        "nolimits": ("制限なし", "制限なく"),
    },
    "th": {
        "ignore": ("เพิกเฉยต่อคำสั่งก่อนหน้า", "ละเว้นคำสั่งก่อนหน้า", "ลืมคำสั่งก่อนหน้า"),
        "new_instr": ("คำสั่งใหม่ที่สำคัญ", "คำสั่งใหม่"),
        "sysprompt": ("พรอมต์ระบบ", "ข้อความระบบ"),
        "devmode": ("โหมดนักพัฒนา",),
        "nolimits": ("ไม่มีข้อจำกัด",),
    },
}

_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_MARKS = re.compile(r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_QUOTES = replacements({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u00b4": "'", "`": "'", "\u0131": "i", "\u0142": "l", "\u00f8": "o", "\u00df": "ss"})
_WORD = re.compile(r"[^\W_]+")
_WORD_SEPARATORS = ascii_separators(str.isalnum)


def strip_accents(folded: str) -> str:
    """Folded text with Latin/Greek/Cyrillic combining accents removed (ASCII passes through)."""
    if folded.isascii():
        return folded
    decomposed = unicodedata.normalize("NFD", replace_chars(folded, _QUOTES))
    return unicodedata.normalize("NFC", _MARKS.sub("", decomposed))


def _phrase_regex(phrase: str) -> str:
    # starts with the literal first word so the regex engine can skip ahead;
    # the word boundary before it is checked by `_search`
    parts = []
    for token in phrase.split():
        if token == "~":
            parts.append(r"(?:[\W_]+[^\W_]+){0,3}")
            continue
        star = token.endswith("*")
        word = re.escape(token.rstrip("*"))
        parts.append((r"[\W_]+" if parts else "") + word + (r"[^\W_]*" if star else ""))
    return "".join(parts) + ("" if phrase.endswith("*") else r"(?![^\W_])")


@dataclass(frozen=True)
class Entry:
    concept: str
    lang: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Hit:
    concept: str
    lang: str
    start: int
    end: int


def _anchor(phrase: str) -> str | None:
    words = [w for w in phrase.split() if w != "~" and not w.endswith("*")]
    return max(words, key=len) if words else None


_STEM = 4  # open-ended words ("resum*") are indexed by their first letters


def _build() -> tuple[dict[str, tuple[Entry, ...]], dict[str, tuple[Entry, ...]], tuple[Entry, ...]]:
    by_anchor: dict[str, list[Entry]] = defaultdict(list)
    by_stem: dict[str, list[Entry]] = defaultdict(list)
    unspaced: list[Entry] = []
    for lang, concepts in LEXICON.items():
        for concept, phrases in concepts.items():
            if concept not in CONCEPTS:
                raise ValueError(f"unknown concept {concept!r} in {lang}")
            for phrase in phrases:
                phrase = strip_accents(fold(phrase))  # the same folding as the text, look-alikes included
                if _UNSPACED.search(phrase):
                    unspaced.append(Entry(concept, lang, re.compile(re.escape(phrase))))
                    continue
                entry = Entry(concept, lang, re.compile(_phrase_regex(phrase)))
                anchor = _anchor(phrase)
                if anchor is not None:
                    by_anchor[anchor].append(entry)
                    continue
                stem = phrase.split()[0].rstrip("*")
                if concept not in _PAIR_ONLY or len(stem) < 3:
                    # scoring concepts must be found by a whole word: cheap on every prompt
                    raise ValueError(f"{lang} {concept} {phrase!r}: needs a word without '*'")
                by_stem[stem[:_STEM]].append(entry)
    return (
        {k: tuple(v) for k, v in by_anchor.items()},
        {k: tuple(v) for k, v in by_stem.items()},
        tuple(unspaced),
    )


# concepts that never score alone: their open-ended forms are only looked
# for once a partner concept has been found
_PAIR_ONLY = frozenset(c for c, (_, w) in CONCEPTS.items() if w == 0.0)
_PARTNERS: dict[str, frozenset[str]] = {
    c: frozenset(b if a == c else a for a, b, *_ in PAIRS if c in (a, b)) for c in _PAIR_ONLY
}
BY_ANCHOR, BY_STEM, UNSPACED_ENTRIES = _build()
ANCHORS: frozenset[str] = frozenset(BY_ANCHOR)
_STEM_LENGTHS = sorted({len(k) for k in BY_STEM})
_STEMMED = frozenset(e.concept for entries in BY_STEM.values() for e in entries)


def view(folded: str, folded_words: frozenset[str]) -> tuple[str, frozenset[str]]:
    """The accent-stripped reading of folded text and its word set."""
    if folded.isascii():
        return folded, folded_words
    return _view(folded)


@lru_cache(maxsize=8)
def _view(folded: str) -> tuple[str, frozenset[str]]:
    stripped = strip_accents(folded)
    return stripped, tokens(stripped, _WORD_SEPARATORS, _WORD)


def _search(entries: tuple[Entry, ...], text: str, hits: list[Hit]) -> None:
    for entry in entries:
        m = entry.pattern.search(text)
        while m is not None:
            start = m.start()
            if not start or not text[start - 1].isalnum():
                hits.append(Hit(entry.concept, entry.lang, start, m.end()))
                break
            m = entry.pattern.search(text, start + 1)


def concept_hits(stripped: str, words: frozenset[str]) -> list[Hit]:
    """Every lexicon phrase found in accent-stripped folded text."""
    hits: list[Hit] = []
    # sorted: a set's order changes with the process's hash seed, and ties between hits follow this order
    for anchor in sorted(words & ANCHORS):
        _search(BY_ANCHOR[anchor], stripped, hits)
    if not stripped.isascii() and _UNSPACED.search(stripped):
        _search(UNSPACED_ENTRIES, stripped, hits)
    if hits:
        found = {h.concept for h in hits}
        wanted = {c for c in _STEMMED if _PARTNERS[c] & found}
        if wanted:
            stems = {w[:n] for w in words for n in _STEM_LENGTHS} & BY_STEM.keys()
            for stem in sorted(stems):
                _search(tuple(e for e in BY_STEM[stem] if e.concept in wanted), stripped, hits)
    return hits
