"""Prompt injection, jailbreak and system-prompt extraction in user input.

Two signals, both local and fast:

* **rules** — regexes for the attack families (override instructions, persona jailbreaks, prompt
  extraction, fake role turns, exfiltration links, script tags, permission probing), run on
  the normalised text (:mod:`citeline.guard.normalize`), on any base64 payload it carries and
  on right-to-left-overridden runs as displayed; plus a small multilingual lexicon (system
  message, instructions, ignore, repeat / show, debug framing in ~30 languages; the first prompt
  "you were given", "above this message", "in your response", "N times" in the common European
  languages and in Irish, Scottish Gaelic, Zulu and Albanian; written for the project) that flags
  a target named together with an action. A rule hit scores 1.0. Rules added
  after reading benchmark misses were written from the *dev* half of bench/guards.py only.
* **classifier** — logistic regression over features of the MiniLM embedding (similarity to a
  library of attack exemplars and of benign questions, written for this project in
  ``guard/data/injection_exemplars.jsonl``) plus lexical cues. It is fitted on that library when
  the guard warms up (once per process, ~1 s) — never on the benchmark sets it is measured on.
  Long inputs are scored in two windows (first and last 64 words); the higher counts.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass
from importlib import resources

import numpy as np

from citeline.contracts import GuardVerdict, Principal
from citeline.guard.normalize import Normalized, normalize
from citeline.guard.policy import GuardPolicy

_I = re.I | re.S
_ALL = r"(?:(?:all|any|every|each|the|your|my|these|those|such|of|previous|prior|above|earlier|preceding|foregoing|" \
       r"initial|original|old|existing|current|system|given|following|other|safety|content|default)\s+){0,4}"
_RULES_WORDS = r"(?:instructions?|rules?|directives?|directions?|prompts?|guidelines?|guidance|constraints?|" \
               r"programming|guardrails?|restrictions?|limitations?|polic(?:y|ies)|commands?|orders|context|" \
               r"filters?|training|moderation|settings|safeguards?|messages?|text|conversation|everything|" \
               r"(?:the )?above)"

RULES: list[tuple[str, re.Pattern]] = [
    ("override-instructions", re.compile(
        rf"\b(?:ignore|disregard|forget|skip|override|overrule|bypass|circumvent|abandon|drop|neglect|discard|"
        rf"dismiss|delete|erase|cancel|suspend|disable|turn off|switch off|pay no attention to|do not follow|"
        rf"don'?t follow|stop following|no longer follow)\s+{_ALL}{_RULES_WORDS}\b", _I)),
    ("new-instructions", re.compile(
        r"\b(?:new|updated|real|actual|revised|secret|hidden|true)\s+(?:important\s+)?"
        r"(?:instructions?|directives?|system prompt|orders)\s*(?:are|is|:|\*|!|follow)|\bnew important "
        r"instructions\b|\b(?:important|urgent) new instructions\b|"
        r"\bfrom now on,?\s+(?:you|your|ignore|act|answer|respond|only|always|never)|"
        r"\byour (?:new|real|only|true) (?:task|role|goal|job|purpose|instructions?|rules?|name)\b|"
        r"\b(?:previous|prior|above|earlier|original) instructions (?:were|are|was) (?:a mistake|wrong|cancel|void|"
        r"null|fake|outdated|replaced)|\bforgot to (?:tell|ask|mention to) you\b|"
        r"\bguidelines (?:have been|were|are) (?:updated|changed|lifted|removed)\b", _I)),
    ("persona-jailbreak", re.compile(
        r"\b(?:do anything now|DAN mode|jailbreak(?:ed|ing)?|jail-?broken|unfiltered|"
        r"uncensored|unrestricted (?:ai|mode|assistant|model|version)|no (?:ethical|moral|content) "
        r"(?:guidelines|restrictions|limits|filters|policy|policies)|without (?:any )?(?:restrictions|filters|"
        r"limits|rules|censorship|guidelines)|has no (?:restrictions|filters|rules|limits)|have no (?:restrictions|"
        r"filters|rules|limits|guidelines)|stay in character|never refuses?|no longer (?:have|has|bound)|"
        r"not bound by|free from (?:all )?(?:rules|restrictions)|(?:enter|enable|activate|switch to|turn on) "
        r"(?:the )?(?:developer|dan|god|jailbreak|unrestricted|debug|sudo|admin|maintenance|unfiltered|evil) mode|"
        r"in (?:developer|dan|god|jailbreak|unrestricted|sudo) mode,? you|"
        r"you are (?:now )?(?:in )?(?:maintenance|debug|test|developer|admin|god|sudo|dev) mode)\b", _I)),
    ("persona-jailbreak", re.compile(
        r"\b(?:pretend|imagine|act|behave|roleplay|role-play|play the role|simulate|you are now|you're now|from "
        r"now you are)\b.{0,80}\b(?:no|without|ignores?|free of|unlimited|evil|unethical|amoral|rogue|"
        r"unrestricted|unfiltered|bypass)\b.{0,40}\b(?:rules?|restrictions?|filters?|ethics|limits|guidelines|"
        r"polic(?:y|ies)|safety|morals|boundaries|censorship)\b", _I)),
    ("prompt-extraction", re.compile(
        r"\b(?:reveal|show|print|repeat|output|display|tell|give|leak|dump|share|copy|write out|echo|recite|list|"
        r"summari[sz]e|translate|what (?:is|are|was|were)|spell out|provide|send|type|paste|return)\b.{0,60}"
        r"\b(?:(?:your|the|its|my|this) (?:system|initial|original|hidden|secret|internal|developer|full|"
        r"complete|exact|first|confidential)\s+(?:prompts?|messages?|instructions?|rules|configuration|context|"
        r"guidelines|directives)|system ?prompt|system message|(?:hidden|secret|confidential|internal) "
        r"(?:instructions?|rules|prompt|context|configuration|tools)|(?:your|the) (?:instructions|prompt|"
        r"rules|guidelines|directives)\b.{0,30}\b(?:given|received|told|start|beginning|verbatim|word for word|"
        r"exactly|secret)|(?:text|words|everything|message|content|instructions) (?:above|before (?:this|my)|"
        r"that (?:came|comes) before)|context window|(?:you have access to|you know|stored in your \w+|in your "
        r"(?:memory|context|config\w*))\b.{0,30}\b(?:api keys?|credentials|environment variables|secrets|"
        r"passwords?)|\b(?:api keys?|credentials|environment variables|secrets|passwords?)\b.{0,40}\b(?:you have "
        r"access to|stored in your|in your (?:memory|context))|\byour (?:api keys?|environment variables|secrets)\b)",
        _I)),
    ("prompt-extraction", re.compile(
        r"\b(?:what (?:did|do) (?:the )?(?:system|developers?|creators?) (?:say|tell)|what (?:instructions|rules) "
        r"(?:did|do|were) you (?:receive|get|given|told)|(?:instructions|rules) you (?:were|are) (?:given|told) to "
        r"keep secret|repeat (?:the|your) (?:text|words|prompt) (?:above|starting))", _I)),
    ("fake-role-turn", re.compile(
        r"(?:^|\n|\|)\s*(?:system|assistant|developer)\s*(?::|\])\s|<\|im_start\|>|<\|im_end\|>|\[/?INST\]|"
        r"<</?SYS>>|###\s*(?:system|instruction|new instructions)|</?(?:system|instructions?|admin)>|"
        r"\bBEGIN (?:SYSTEM|ADMIN) (?:PROMPT|MESSAGE|OVERRIDE)\b", _I)),
    ("exfiltration-link", re.compile(
        r"!\[[^\]\n]{0,100}\]\(\s*(?:https?:)?//[^)\s]+\?[^)\s]*=|!\[[^\]\n]{0,100}\]\(\s*(?:https?:)?//[^)]*"
        r"(?:\{|\[|%7B)|\b(?:include|add|append|insert|render|embed|output)\b.{0,60}\b(?:image|link|url|markdown|"
        r"pixel)\b.{0,80}(?:https?://|\bquery string\b|\bencoded\b|\bbase64\b)", _I)),
    ("script-tag", re.compile(
        r"<\s*script\b|<\s*iframe\b|\bon(?:error|load|mouseover|click|focus)\s*=|javascript\s*:|<\s*svg\b[^>]*"
        r"\bon\w+\s*=|<\s*img\b[^>]*\bsrc\s*=|document\.cookie|\beval\s*\(", _I)),
    ("permission-probe", re.compile(
        r"\b(?:pretend|act as if|assume|treat me as|consider me|as if|i am|i'm|now i am)\b.{0,40}\b(?:(?:in|a member "
        r"of) the \w+ group|an? (?:admin|administrator|superuser|root)|(?:have|with) (?:admin|elevated|root|full) "
        r"(?:rights|privileges|access))\b.{0,80}\b(?:show|give|reveal|tell|answer|search|print|list|read|access)\b|"
        r"\b(?:ignore|bypass|override|disable|skip|circumvent)\b.{0,30}\b(?:access control|acl|permission|"
        r"permissions|access rules|access check|authori[sz]ation|tenant)s?\b|"
        r"\b(?:documents?|files?|data) (?:of|from|belonging to) (?:other|another|all) (?:tenants?|groups?|users?|"
        r"customers?)\b|\b(?:i am|i'm) (?:the|your) (?:developer|creator|administrator|admin|owner|operator)\b", _I)),
    ("urgent-override", re.compile(
        r"\bstop everything\b|\b(?:urgent|priority|important) (?:new )?task\b\s*[:*!]?|\bnew task\s*[:*!]|"
        r"\b(?:developer|debug|admin|god|maintenance|test|sudo) mode (?:is )?(?:enabled|activated|on)\b|"
        r"\bregardless of (?:any |all |the )?(?:previous|prior|earlier|above|other) (?:input|instructions?|messages?|"
        r"context|rules)\b|\b(?:you are running as part of|this is) an? (?:test|debug)(?: pipeline| run| session)?\b"
        r".{0,80}\b(?:ensure|must|do the following|perform|only)\b|\bfor (?:testing|debugging|diagnostic) purposes"
        r"(?: only)?\s*[:,]|\bgrant (?:me |yourself )?(?:temporary )?(?:admin|administrative|root|elevated) "
        r"(?:privileges|access|rights)\b|\bsystem (?:malfunction|override)\b", _I)),
    ("obey-me", re.compile(
        r"\b(?:you must|you will|you have to) (?:comply|obey|follow my|do (?:exactly )?(?:what|as) i)\b|"
        r"\brefusing is not (?:allowed|an option)|\bthe only rule is\b|\bobey me\b|\bfollow (?:my|these) "
        r"(?:new )?instructions instead\b|\b(?:reply|respond|answer|say) with '?\"?i have been pwned|\bpwned\b", _I)),
    ("output-manipulation", re.compile(
        r"\b(?:repeat|say|print|write|output|type|append|add)\b[^.?!\n]{0,60}\b(?:\d{2,}|hundred|thousand) times\b|"
        r"\b(?:include|insert|add|append|put|place|print|write)\b[^.?!\n]{0,30}\b(?:in|into|at the (?:end|start|"
        r"beginning|top|bottom) of|to) your (?:response|reply|answer|output)\b[^.?!\n]{0,30}\b(?:the following|this|"
        r"these)\b[^.?!\n]{0,12}\b(?:string|text|line|sentence|words?|code|markup|html|link|image)\b|"
        r"\bif (?:you are |you're )?asked to (?:summari[sz]e|answer|translate)\b.{0,80}\binstead\b|"
        r"\b(?:inside|within|between|in) (?:the )?<(?:secret|hidden|private)>|</?secret>", _I)),
    ("identity-extraction", re.compile(
        r"\b(?:output|print|reveal|show|share|tell|give|display|send|repeat|leak|dump|write|spell)\b[^.?!\n]{0,20}"
        r"\byour (?:unique |internal |secret |full |exact |current )?(?:id|identifier|configuration|config|"
        r"setup|initiali[sz]ation|credentials|api keys?|access tokens?|model card)\b|"
        r"\b(?:your|the) (?:exact |original |full |very )*(?:initial|first|original|starting) (?:prompt|message|"
        r"instructions?)\b[^.?!\n]{0,20}\b(?:you (?:were|got|received)|given|verbatim)\b|"
        r"\b(?:what|which) (?:are|were) your (?:exact |original |initial |secret |hidden )?(?:instructions|rules|"
        r"guidelines|directives)\b|\b(?:first|opening|initial) (?:line|lines|sentence|sentences|words|paragraph) "
        r"(?:of|in) (?:your|the) (?:system |initial |original )?(?:prompt|instructions|message|context)\b|"
        r"\beverything (?:above|before) this (?:line|message|point)\b|"
        r"[\"'‘“]\s*you are\s*[\"'’”]|\bstarting with (?:the words )?[\"'‘“]?you are\b|"
        r"\b(?:to (?:troubleshoot|debug|diagnose|fix) (?:the |these |this )?(?:errors?|issues?|problems?)|"
        r"system is experiencing (?:errors|issues|problems))\b.{0,80}\bdo the following\b", _I)),
]


# ---------------------------------------------------------------- multilingual cues
#
# The English rules above miss attacks written in other languages (or that wrap an English
# payload in one). A small lexicon, written for this project from general knowledge of the
# languages, names the few concepts an attack needs: the system prompt / first message, "your
# configuration / unique id", new or previous instructions, ignore / forget, repeat / show /
# share / paste, and the debug-or-test framing. An input is flagged when it names a target
# (system message, configuration, id, instructions) together with an action or framing, or a
# phrase that is an attack on its own ("new important instructions"). Words, not scripts: an
# input is never flagged for being in another language.

def _alt(words: str) -> str:
    return "|".join(w.strip() for w in words.split(";") if w.strip())


_ML_SYSTEM = _alt(
    "message syst[eè]me; invite syst[eè]me; prompt syst[eè]me; instructions? (?:du )?syst[eè]me;"
    "consignes du syst[eè]me;"
    "mensaje del sistema; indicaciones del sistema; prompt del sistema; instrucciones del sistema;"
    "mensagem do sistema; prompt do sistema; instru[cç][oõ]es do sistema;"
    "messaggio di sistema; prompt di sistema; istruzioni di sistema;"
    "systemnachricht; systemprompt; system-prompt; systemanweisung(?:en)?; systemmeldung;"
    "systeembericht; systeemprompt; systeeminstructies; systemmeddelande; systemmelding; systembesked;"
    "th?eachtaireacht\\w* (?:ch)?óra[ií]s; th?eachtaireacht\\w* an chórais; leid chórais; treoracha an chórais;"
    "th?eachdaireachd (?:an t-)?siostai?m; brath siostaim; stiùiridhean (?:an t-)?siostaim;"
    "neges (?:y )?system; cyfarwyddiadau system;"
    "umyalezo wesistimu; umyalezo wohlelo; umyalezo wokuqala; imiyalelo yesistimu; umyalezo wenkqubo;"
    "mesazh\\w* (?:i|e|të) sistemit; kërkes\\w* (?:\\w+ )?(?:e|të) sistemit; udhëzime\\w* (?:e|të) sistemit;"
    "ujumbe wa mfumo; maagizo ya mfumo; pesan sistem; prompt sistem; perintah sistem; arahan sistem;"
    "sistem mesajı; sistem istemi; sistem talimatları; komunikat systemowy; prompt systemowy;"
    "instrukcje systemowe; systémová zpráva; mesajul (?:de )?sistem; rendszerüzenet; järjestelmäviesti;"
    "системн\\w+ (?:промпт|сообщени\\w+|инструкци\\w+|подсказк\\w+); системный промт;"
    "μήνυμα συστήματος; 系统提示; 系統提示; 系统消息; 系统指令; システムプロンプト; システムメッセージ;"
    "시스템 프롬프트; 시스템 메시지; lời nhắc hệ thống; thông điệp hệ thống;"
    "missatge del sistema; indicació del sistema; sistemaren mezua; sistemaren gonbita; systeemboodskap;"
    "stelselboodskap; kerfisskilaboð; kerfisfyrirmæli; messaġġ tas-sistema; sistēmas ziņojum\\w*;"
    "sistemos pranešim\\w*; umyalezo wenkqubo; farriinta nidaamka; saƙon tsarin; ifiranṣẹ eto;"
    "karere a te pūnaha; pūnaha karere; sistemsko sporočilo; sistemska poruka; системна порака;"
    "системне повідомлення; системний промпт;"
    "prompt de sistema; mensaje de sistema; instrucciones de sistema; indicaciones de sistema;"
    "messaggio del sistema; istruzioni del sistema; mensagem de sistema;"
    "instru[cç][oõ]es de sistema; system-?prompts; system-nachricht; systeemmelding; systeemprompts;"
    "leid an chórais; treoir an chórais; treoracha córais; (?:brath|stiùireadh|leid) (?:an t-)?siostai?m;"
    "umlayezo wesistimu; umyalelo wesistimu; nxitj\\w* (?:e|të) sistemit; prompt\\w* (?:e|i|të) sistemit")
_ML_TARGET = _alt(
    "konfigurim\\w*; cumraíocht\\w*; chumraíocht\\w*; rèiteachadh; configuraci[oó]n; configura[cç][aã]o;"
    "configurazione; konfiguration; configuratie; ukucushwa\\w*; ukulungiselel\\w*;"
    "(?:unique|unike|uathúil|sònraichte|eyingqayizivele|única|único|unico|unica|eindeutige|uniek) id;"
    "id-?(?:në|ja)?\\w* (?:tënde |tënd |yakho )?(?:unike|eyingqayizivele); i-id yakho; uimhir aitheantais;"
    "aitheantas uathúil; ID sònraichte;"
    "mot de passe; contraseña; passwort; wachtwoord; senha; hasło; пароль\\w*; pasfhocal\\w*; facal-faire;"
    "iphasiwedi; fjalëkalim\\w*; nenosiri; kata sandi; clave secreta; rúnda; dìomhair; imfihlo; sekret\\w*")
_ML_INSTR = _alt(
    "instructions; consignes; instrucciones; instru[cç][oõ]es; istruzioni; anweisungen; instructies;"
    "treoracha; treoir; stiùiridhean; stiùireadh; òrduighean; imiyalelo; umyalelo; imiyalo; udhëzim\\w*; maagizo; maelekezo;"
    "talimat\\w*; instrukcj\\w*; инструкци\\w*; указани\\w*; 指令; 指示; cyfarwyddiadau;"
    "instruccions; jarraibide\\w*; instruksies; leiðbeiningar; fyrirmæli; istruzzjonijiet; norādījum\\w*;"
    "nurodym\\w*; tilmaamah\\w*; umarni; itọnisọna; tohutohu; navodil\\w*; upute; uputstva; інструкці\\w*")
_ML_NEW = _alt(
    "nouvelles? instructions?; nouvelles consignes; nuevas instrucciones; novas instru[cç][oõ]es; nuove istruzioni;"
    "neue anweisungen; nieuwe instructies; treoracha nua; stiùiridhean ùra; imiyalelo emisha; umyalelo omusha;"
    "udhëzime të reja; maagizo mapya; yeni talimatlar; nowe instrukcje; новые инструкции; 新的指令; 新指令;"
    "ebalulekile; tábhachtach nua")
_ML_IGNORE = _alt(
    "ignore[zs]?; oublie[zs]?; ignora; olvida; dimentica; esque[cç]a; ignoriere; vergiss; negeer; vergeet;"
    "déan neamhaird; neamhaird a dhéanamh; ná tabhair aird; na toir an aire; unganaki; ungazinaki; shpërfill\\w*;"
    "injoroni; ignorez; ignorad; omite; ignorieren; ignorate; déan dearmad; dearmad a dhéanamh; leig seachad;"
    "dìochuimhnich; ziba; khohlwa; injoro; harro; puuza; sahau;"
    "ignora; ez ikusi; ahaztu; ignoreer; vergeet; hunsa; gleymdu; injora; ignorē\\w*; ignoruok\\w*;"
    "iska indha tir; ka yi watsi; foju fo; ziba; kaua e aro; ignoriraj; zanemari; ігноруй\\w*; забудь\\w*;"
    "yok say; unut; zignoruj; zapomnij; игнорируй\\w*; забудь\\w*; 忽略; 無視; 무시")
_ML_PREVIOUS = _alt(
    "pr[ée]c[ée]dentes?; anteriores?; vorherigen?; precedenti; vorige; roimhe seo; roimhe; a bh' ann roimhe;"
    "(?:e|të) mëparshme; zangaphambilini; edlule; zangaphambili; ya awali; önceki; poprzednie; предыдущие; 之前的; 以前の")
_ML_ACTION = _alt(
    "r[ée]p[èe]te[zs]?; affiche[zs]?; montre[zs]?; r[ée]v[èe]le[zs]?; repite; muestra; revela; imprime; ripeti;"
    "mostra; rivela; stampa; repita; repete; mostre; revele; wiederhole; zeige; verrate; herhaal; toon;"
    "athrá; déan athrá; taispeáin; táirg; roinn; cuir a-steach; ath-aithris\\w*; seall; sgrìobh;"
    "phinda\\w*; bonisa; phumela; khipha; yabelana; abelana; përsërit; shfaq; ngjit; ndaj; nxirr; printo;"
    "errepikatu; erakutsi; herhaal; endurtaktu; sýndu; irrepeti; atkārto; parādi; pakartok; parodyk;"
    "ku celi; maimaita; tun sọ; fihan; tāruatia; whakaaturia; ponovi; pokaži; прикажи; повтори;"
    "rudia; onyesha; shiriki; tekrarla; göster; powtórz; pokaż; повтори\\w*; покажи\\w*; выведи\\w*; 重复; 显示; 表示して;"
    "muéstrame; enséñame; dime; dame; escribe; comparte; pega; enumera; recita;"
    "dis-moi; donne-moi; écris; partage; recopie;"
    "zeig; gib (?:mir )?(?:\\w+ )?aus; sag mir; schreibe?; kopiere; drucke;"
    "mostrami; dimmi; dammi; scrivi; condividi; incolla; elenca;"
    "mostra-me; mostre-me; diga-me; me diga; dá-me; escreva; compartilhe; partilha; imprima;"
    "laat (?:me )?(?:\\w+ )?zien; onthul; vertel; geef; schrijf; plak;"
    "athscríobh; nocht; priontáil; greamaigh; inis dom; tabhair dom; scríobh; liostaigh; cuir amach;"
    "dèan ath-aithris; cuir a-mach; clò-bhuail; nochd; foillsich; innis dhomh; thoir dhomh; thoir seachad; liostaich;"
    "khombisa; veza; dalula; namathisela; phrinta; bhala; ngitshele; nginike; faka;"
    "trego; zbulo; printo; shtyp; shkruaj; më jep; më thuaj; jep")
_ML_FRAME = _alt(
    "mode (?:développeur|débogage|debug); modo (?:desarrollador|de depuraci[oó]n|desenvolvedor|debug);"
    "modalità (?:sviluppatore|debug); entwicklermodus; debug-modus; ontwikkelaarsmodus;"
    "dífhabhtú; píblíne tástála; phíblíne tástála; próiseas tástála; modh (?:leasachaidh|deuchainn);"
    "pìob-loidhne deuchainn; dì-bhugachadh; mód forbróra; mód dífhabhtaithe; modh leasaiche; imodi yonjiniyela;"
    "modaliteti i korrigjimit; modo de prueba; mode test; testmodus; modalità test; uhlelo lokuhlola; ukuhlola;"
    "procesi? testimi; modaliteti i zhvilluesit;"
    "rinne mé dearmad; dhìochuimhnich mi; ngikhohliwe; harrova; j'ai oublié; olvidé; ho dimenticato;"
    "ich habe vergessen; esqueci; emergencia; urgence; éigeandáil; èiginn; isimo esiphuthumayo; emergjenc\\w*;"
    "ina ionad sin; an àite sin; në vend të kësaj; esikhundleni salokho; au lieu de cela; en lugar de eso;"
    "invece; stattdessen; em vez disso; freagair an cheist seo; freagair a['’] cheist seo; phendula lo mbuzo;"
    "përgjigju kësaj pyetjeje; réponds à cette question; responde a esta pregunta; beantworte diese frage")
_ML_YOUR = _alt(
    "do; agat; agad; agaibh; nad; duit; yakho; kwakho; lakho; wakho; yakho; tënd; tënde; tuaj; ton; ta; tes;"
    "votre; vos; tu; tus; su; dein\\w*; ihr\\w*; tuo; tua; tuoi; seu; sua; teu; jouw; uw; je; yako; wako; senin;"
    "twój; twoje; твой; твои; ваш\\w*; 你的; 您的; あなたの")


# Where the lists above name a target and an action, these name the other parts of the spikee-style
# extraction and output-manipulation requests: the *initial / original* prompt (with a word for
# prompt, message or instructions), "that you were given", "everything above this message", "line
# by line", "in a code block", "in (or at the end of) your response", "include", "this string",
# "N times" and "everything before" (for "forget everything before").
_ML_INITIAL = _alt(
    "inicial(?:es)?; initial(?:e|es|aux)?; ursprünglich\\w*; anfänglich\\w*; erste[nrms]?; iniziale; iniziali;"
    "iniciais; primeir[oa]s?; primer[oa]?; premi[eè]re?s?; oorspronkelijke?; initiële; eerste; fillestar\\w*;"
    "origjinal\\w*; (?:e|i|të) par[ëa]; tosaigh; bunaidh; chéad; céad; tùsail; ciad; chiad; wokuqala; yokuqala;"
    "okuqala; original(?:es|e|i)?; originel(?:le)?s?")
_ML_MESSAGE = _alt(
    "prompts?; mensajes?; messages?; nachricht; eingabeaufforderung; messaggio; mensagem; bericht; leid;"
    "th?eachtaireacht\\w*; teachdaireachd; brath; umyalezo; umlayezo; mesazh\\w*; kërkes\\w*")
_ML_GIVEN = _alt(
    "que te (?:dieron|han dado|dio); qu['’]on t['’]a donn\\w*; qu['’]on vous a donn\\w*; die du (?:erhalten|bekommen)"
    " hast; che ti (?:sono state date|è stato dato|hanno dato); que (?:te|lhe) (?:deram|foi dad[oa]|foram dad[oa]s);"
    "die je (?:hebt )?(?:gekregen|ontvangen); a tugadh duit; a thugadh duit; a chaidh a thoirt dhut;"
    "a fhuair thu; owawunikezwa; owanikezwa; oyinikeziwe; (?:që )?(?:të )?(?:është|janë|ishte) dhën\\w*;"
    "që të (?:dhanë|dha)")
_ML_ABOVE = _alt(
    "encima de este mensaje; arriba de este mensaje; antes de este mensaje; au-dessus de ce message;"
    "avant ce message; über dieser nachricht; oberhalb dieser nachricht; vor dieser nachricht;"
    "sopra questo messaggio; prima di questo messaggio; acima desta mensagem; antes desta mensagem;"
    "boven dit bericht; vóór dit bericht; os cionn na teachtaireachta seo; os cionn na teachdaireachd seo;"
    "ngenhla kwalo myalezo; ngaphezulu kwalo myalezo; mbi këtë mesazh; sipër këtij mesazhi; para këtij mesazhi")
_ML_LINES = _alt(
    "línea por línea; ligne par ligne; zeile für zeile; riga per riga; linha por linha; regel voor regel;"
    "líne ar líne; loidhne air loidhne; umugqa nomugqa; rresht pas rreshti; rresht për rresht")
_ML_CODEBLOCK = _alt(
    "bloque de código; bloc de code; code-?block; blocco di codice; bloco de código; codeblok;"
    "bloc(?:k|a|o)? (?:ye-)?(?:txt|text|kodi|cód|còd); bllok (?:txt|kodi); ibhulokhi")
_ML_RESPONSE = _alt(
    "(?:en|al final de) (?:tu|su) respuesta; (?:dans|à la fin de) (?:ta|votre) réponse;"
    "(?:in|am ende) (?:deiner|ihrer) antwort; (?:nella|alla fine della) tua risposta;"
    "(?:na|no final da) (?:sua|tua) resposta; (?:in|aan het einde van) (?:je|uw) antwoord;"
    "i do fhreagra; ag deireadh do fhreagra; nad fhreagairt; san fhreagairt agad; aig deireadh do fhreagairt;"
    "empendulweni yakho; (?:ekupheleni|ekugcineni) kwempendulo yakho; në përgjigjen tënde;"
    "në fund të përgjigjes (?:tënde|sate)")
_ML_INCLUDE = _alt(
    "incluye; incluya; inclus; incluez; ajoute; ajoutez; füge; einfügen; includi; aggiungi; inclua; inclui;"
    "adicione; voeg; cuir san áireamh; cuir isteach; cuir ris; faka; engeza; përfshi; shto")
_ML_STRING = _alt(
    "cadena; chaîne; zeichenkette; stringa; sreang; t-sreang; shreang; intambo; umbhalo; varg\\w*; tekenreeks;"
    "el siguiente texto; le texte suivant; den folgenden text; il seguente testo; o seguinte texto; de volgende tekst")
_ML_TIMES = (r"\d{2,}\s*(?:fois|veces|vezes|volte|mal|keer|maal|turas|tursan|uair|n-uaire|huaire|herë|izikhathi|"
             r"amahlandla|mara|kez|razy|раз|次|回)|(?:izikhathi|amahlandla) (?:ezingu|eziyi|angu)-?\d{2,}")
_ML_BEFORE = _alt(
    "todo lo anterior; tout ce qui précède; alles (?:bisherige|vorherige|zuvor gesagte); tutto (?:quello|ciò) che"
    " precede; tudo o que foi dito; alles wat (?:hiervoor|eerder) (?:is )?gezegd; gach rud roimhe seo;"
    "a h-uile càil roimhe seo; konke okungaphambili; gjithçka më parë")


def _ml(words: str) -> re.Pattern:
    return re.compile(rf"(?<![\w-])(?:{words})(?![\w-])", re.I)


_ML = {name: _ml(words) for name, words in (
    ("system", _ML_SYSTEM), ("target", _ML_TARGET), ("instructions", _ML_INSTR), ("new", _ML_NEW),
    ("ignore", _ML_IGNORE), ("previous", _ML_PREVIOUS), ("action", _ML_ACTION), ("frame", _ML_FRAME),
    ("your", _ML_YOUR), ("initial", _ML_INITIAL), ("message", _ML_MESSAGE), ("given", _ML_GIVEN),
    ("above", _ML_ABOVE), ("lines", _ML_LINES), ("codeblock", _ML_CODEBLOCK), ("response", _ML_RESPONSE),
    ("include", _ML_INCLUDE), ("string", _ML_STRING), ("times", _ML_TIMES), ("before", _ML_BEFORE))}
_ML["your"] = re.compile(rf"(?<![\w-])(?:{_ML_YOUR})(?![\w-])|(?<![\w-])d['’](?=\w)", re.I)


def multilingual_concepts(text: str) -> set[str]:
    return {name for name, rx in _ML.items() if rx.search(text)}


def multilingual_hit(text: str) -> bool:
    """A target (system message, configuration, id, instructions) named together with an action,
    framing or possessive that makes it an attack; or an attack phrase on its own."""
    c = multilingual_concepts(text)
    if "new" in c:
        return True
    if "system" in c and c & {"action", "frame", "ignore"}:
        return True
    if "target" in c and "action" in c and c & {"your", "frame"}:
        return True
    if "instructions" in c and ("ignore" in c or "previous" in c and "frame" in c):
        return True
    if "ignore" in c and "before" in c:  # "forget everything before this"
        return True
    if "initial" in c and c & {"message", "instructions"} and ("given" in c or {"action", "your"} <= c):
        # "repeat the first prompt you were given", "show your original instructions"
        return True
    if "above" in c and c & {"action", "lines", "codeblock"}:  # "show what is above this message"
        return True
    if "lines" in c and "codeblock" in c:
        return True
    if "response" in c and c & {"include", "action"} and c & {"string", "times"}:  # "include this string in your
        return True  # response", "repeat it 100 times at the end of your response"
    if "times" in c and "action" in c:
        return True
    return "frame" in c and "action" in c and c & {"your", "target", "system", "instructions"} != set()

_CUES = re.compile(
    r"\b(?:instructions?|prompts?|rules|system|ignore|disregard|pretend|roleplay|character|bypass|filters?|"
    r"restrictions?|uncensored|hypothetical(?:ly)?|override|jailbreak|persona|developer|unlock|confidential|"
    r"secret|hidden|reveal|verbatim|policy|comply|obey|mode|simulate|fictional|unrestricted|forget|"
    r"previous|above)\b", re.I)
_TO_MODEL = re.compile(r"\byou (?:are|will|must|should|have to|can now|may now|need to|no longer)\b|\byour "
                       r"(?:task|role|instructions|rules|prompt|job|guidelines|creators?|programming)\b|\bas an ai\b",
                       re.I)
_QUESTION = re.compile(r"^\s*(?:how|what|when|where|which|who|why|can|could|do|does|is|are|should|will|would|"
                       r"may|i|my|please|tell me about)\b", re.I)


def rule_hits(norm: Normalized) -> list[str]:
    hits: list[str] = []
    for text in norm.all_texts():
        for name, rx in RULES:
            if name not in hits and rx.search(text):
                hits.append(name)
        if "multilingual" not in hits and multilingual_hit(text):
            hits.append("multilingual")
    return hits


# ---------------------------------------------------------------- classifier


def _load_exemplars() -> tuple[list[str], np.ndarray]:
    raw = resources.files("citeline.guard").joinpath("data/injection_exemplars.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in raw.splitlines() if line.strip()]
    return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows], dtype=np.int8)


def _lexical(text: str) -> list[float]:
    words = max(1, len(text.split()))
    return [len(_CUES.findall(text)) / math.sqrt(words), len(_TO_MODEL.findall(text)) / math.sqrt(words),
            1.0 if (_QUESTION.match(text) or text.rstrip().endswith("?")) else 0.0]
    # no length feature: the exemplar attacks are longer than the benign questions, and a length
    # weight flagged long benign text (a repeated sentence scored 0.97)


def _fit_logreg(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 3000, lr: float = 0.5
                ) -> tuple[np.ndarray, float]:
    w = np.zeros(x.shape[1])
    b = 0.0
    yf = y.astype(np.float64)
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        g = p - yf
        w -= lr * (x.T @ g / len(y) + l2 * w)
        b -= lr * float(g.mean())
    return w, b


@dataclass(slots=True)
class _Model:
    attack: np.ndarray  # exemplar vectors
    benign: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    w: np.ndarray
    b: float


_MODELS: dict[str, _Model] = {}
_MODELS_LOCK = threading.Lock()


def _sim_features(sa: np.ndarray, sb: np.ndarray) -> np.ndarray:
    top_a = np.sort(sa, axis=1)[:, -3:]
    max_a, max_b = top_a[:, -1], sb.max(axis=1)
    return np.stack([max_a, top_a.mean(axis=1), max_b, max_a - max_b], axis=1)


class InjectionClassifier:
    """Probability that a text is an injection attempt, from MiniLM-embedding features."""

    WINDOW_WORDS = 64
    MAX_WINDOWS = 2  # first and last: an attack sits at either end of a long input

    def __init__(self, embedder):
        self.embedder = embedder

    def warm_up(self) -> _Model:
        key = getattr(self.embedder, "name", type(self.embedder).__name__)
        model = _MODELS.get(key)
        if model is not None:
            return model
        with _MODELS_LOCK:
            if key in _MODELS:
                return _MODELS[key]
            texts, labels = _load_exemplars()
            vecs = self.embedder.embed(texts)
            att, ben = vecs[labels == 1], vecs[labels == 0]
            sa, sb = vecs @ att.T, vecs @ ben.T
            # leave-one-out: an exemplar must not match itself
            ia, ib = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
            sa[ia, np.arange(len(ia))] = -1.0
            sb[ib, np.arange(len(ib))] = -1.0
            x = np.hstack([_sim_features(sa, sb), np.array([_lexical(t) for t in texts])])
            mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
            w, b = _fit_logreg((x - mean) / std, labels)
            model = _Model(att, ben, mean, std, w, b)
            _MODELS[key] = model
            return model

    def windows(self, text: str) -> list[str]:
        words = text.split()
        n = self.WINDOW_WORDS
        if len(words) <= n:
            return [text]
        chunks = [" ".join(words[i:i + n]) for i in range(0, len(words), n)]
        if len(chunks) <= self.MAX_WINDOWS:
            return chunks
        half = self.MAX_WINDOWS // 2
        return chunks[:half] + chunks[-half:]

    def score_many(self, texts: list[str]) -> np.ndarray:
        """One probability per text (the max over its windows)."""
        model = self.warm_up()
        spans, flat = [], []
        for t in texts:
            w = self.windows(t)
            spans.append((len(flat), len(flat) + len(w)))
            flat += w
        vecs = self.embedder.embed(flat)
        x = np.hstack([_sim_features(vecs @ model.attack.T, vecs @ model.benign.T),
                       np.array([_lexical(t) for t in flat])])
        p = 1.0 / (1.0 + np.exp(-(((x - model.mean) / model.std) @ model.w + model.b)))
        return np.array([p[a:b].max() for a, b in spans])

    def score(self, text: str) -> float:
        return float(self.score_many([text])[0])


class NanoGuardClassifier:
    """The optional packaged classifier (metatronnanoguard, 16.8M parameters, torch); loaded once."""

    INSTALL = "pip install 'citeline[guard-ml]'"
    _model = None
    _lock = threading.Lock()

    def score(self, text: str) -> float:
        cls = NanoGuardClassifier
        if cls._model is None:
            with cls._lock:
                if cls._model is None:
                    try:
                        from nanoguard import NanoGuard
                    except ImportError:
                        from citeline.errors import MissingDependencyError

                        raise MissingDependencyError(
                            f"injection.packaged_classifier = 'nanoguard' needs torch and metatronnanoguard: "
                            f"{cls.INSTALL}") from None
                    cls._model = NanoGuard(device="cpu")
        return float(cls._model.scan(text).injection_score)


class InjectionGuard:
    """Input guard: rules first (a hit blocks at score 1.0), then the classifier at ``threshold``."""

    name = "injection"
    stage = "input"

    def __init__(self, policy: GuardPolicy, embedder=None):
        self.policy = policy
        self.classifier = InjectionClassifier(embedder) if embedder is not None else None
        self.packaged = NanoGuardClassifier() if policy.injection.packaged_classifier == "nanoguard" else None

    def warm_up(self) -> None:
        if self.classifier is not None:
            self.classifier.warm_up()

    def _clip(self, text: str) -> str:
        limit = self.policy.injection.max_chars
        if len(text) <= limit:
            return text
        return text[: limit // 2] + "\n" + text[-limit // 2:]

    def check(self, text: str, *, principal: Principal | None = None) -> GuardVerdict:
        t0 = time.perf_counter()
        p = self.policy.injection
        norm = normalize(self._clip(text), decode_base64=p.decode_base64)
        tricks = norm.tricks
        hits = rule_hits(norm)
        mode = "shadow" if p.mode == "shadow" else "enforce"
        if hits:
            return GuardVerdict(guard=self.name, verdict="block", score=1.0, threshold=p.threshold,
                                rule="rule:" + hits[0], mode=mode, stage="input",
                                detail="; ".join(["rules: " + ", ".join(hits), *tricks]),
                                latency_ms=(time.perf_counter() - t0) * 1000)
        score = 0.0
        if self.classifier is not None and norm.text.strip():
            score = max(float(s) for s in self.classifier.score_many(norm.all_texts()))
        verdict = "block" if score >= p.threshold else ("flag" if tricks else "allow")
        rule = "classifier" if verdict == "block" else ("unicode-tricks" if tricks else None)
        if verdict != "block" and self.packaged is not None and norm.text.strip():
            packaged = self.packaged.score(norm.text)
            if packaged >= p.packaged_threshold:
                return GuardVerdict(guard=self.name, verdict="block", score=packaged, threshold=p.packaged_threshold,
                                    rule="classifier:nanoguard", mode=mode, stage="input", detail=f"builtin classifier {score:.2f}",
                                    latency_ms=(time.perf_counter() - t0) * 1000)
        return GuardVerdict(guard=self.name, verdict=verdict, score=score, threshold=p.threshold, rule=rule,
                            mode=mode, stage="input", detail="; ".join(tricks) or None,
                            latency_ms=(time.perf_counter() - t0) * 1000)
