"""French words for the offline router (see :mod:`bot.agent.lexicons.schema`).

Accents are folded away ("réessayer" == "reessayer"); elisions are separate words
("l'anglais" -> "l", "anglais"), so write "anglais", not "l'anglais".
"""

from __future__ import annotations

from bot.agent.lexicons.schema import Lexicon

# fmt: off
FR: Lexicon = {
    "intents": {
        "get_user_plan": {
            "mon+abon*": 2.5, "mon+forfait": 2.5, "mon+plan": 2.5, "ma+formule": 2.5,
            "mon+offre": 2.5, "quel+abonnement": 1.0, "quel+plan": 1.0, "quel+forfait": 1.0,
            "quelle+formule": 1.0, "actuel*": 1.0, "actif": 1.0, "active": 1.0, "expire": 1.5,
            "expiration": 1.5, "abonne": 2.5, "abonnee": 2.5, "suis+je": 1.0,
            "abonnement": 0.8, "forfait": 0.8, "formule": 0.8, "plan": 0.5, "en ce moment": 0.5,
            "vaut+peine": 2.5, "apporte*": 2.5,
        },
        "recommend_best_currency": {
            "avantageu*": 2.5, "de preference": 2.5, "quelle+crypto*": 1.0,
            "recommand*": 3.0, "conseill*": 3.0, "suggere*": 3.0, "suggerer": 3.0,
            "meilleur*": 1.5, "moins cher*": 3.5, "plus bas": 1.5, "frais": 1.0, "devrais": 1.2,
            "dois": 1.0,
            "choisir": 1.0, "quelle+monnaie": 0.8, "quelle+devise": 0.8, "quelle+crypto": 1.0,
            "quel+coin": 0.8, "monnaie pour": 2.5, "devise pour": 2.5, "crypto pour": 2.5,
            "avec quoi": 1.5, "ideal*": 1.5, "utiliser": 0.8,
        },
        "get_available_cryptocurrencies": {
            "accept*": 3.0, "support*": 2.5, "disponible*": 2.0, "prenez": 2.5,
            "cryptomonnaies": 1.5, "cryptos": 1.2, "monnaies": 1.2, "devises": 1.2,
            "moyens de paiement": 2.5, "modes de paiement": 2.5, "options": 1.0,
            "puis je payer": 2.5, "peut on payer": 2.5, "quelles+cryptos": 1.0,
            "quelles+monnaies": 1.0, "quelles+devises": 1.0, "quelles+cryptomonnaies": 1.0,
            "liste": 0.8, "toutes": 0.5,
        },
        "get_payment_estimate": {
            "combien": 2.5, "prix": 2.5, "coute": 2.5, "coutent": 2.5, "cout": 2.5,
            "tarifs": 2.5, "le tarif": 2.5, "devis": 2.5, "cher": 1.5, "estimation": 2.5,
            "faut": 0.5,
            "ferait": 0.5,
        },
        "create_crypto_payment": {
            "je prends": 3.0,
            "acheter": 3.0, "achete": 3.0, "achat": 2.5, "commander": 3.0, "commande": 2.0,
            "souscrire": 3.0, "abonner": 3.0, "prendre": 1.0, "prends": 1.5, "payer": 2.0,
            "paie": 2.0, "paierai": 2.0, "payerai": 2.0, "abonne moi": 3.0,
            "upgrade": 2.5, "renouvel*": 2.5, "creer": 3.0, "cree": 3.0,
            "creez": 3.0, "facture": 2.0, "veux": 1.5, "voudrais": 1.5, "aimerais": 1.5,
            "donne moi": 1.5, "passer a": 1.5, "prefere": 1.5,
        },
        "retry_failed_payment": {
            "reessay*": 4.0, "ressay*": 3.5, "recommenc*": 3.0, "relanc*": 3.0, "refaire": 3.0,
            "a nouveau": 2.0, "de nouveau": 2.0, "encore une fois": 2.0, "echou*": 1.5,
            "echec": 1.5, "essay*": 0.5, "encore": 0.8, "expire": 0.8, "redemarr*": 3.0,
        },
        "check_payment_status": {
            "pourquoi+annule": 5.0, "pourquoi+annulee": 5.0, "ete+annule": 5.0,
            "ete+annulee": 5.0, "est+annule": 5.0, "est+annulee": 5.0,
            "statut": 2.5, "etat": 2.5, "confirm*": 2.0, "arrive": 2.0, "arrivee": 2.0,
            "recu": 2.0, "recue": 2.0, "passe": 1.5, "valide*": 2.0, "termine": 1.5,
            "ou en est": 2.5, "deja+paye": 3.0, "paye": 1.2, "payee": 1.2, "argent": 1.0,
            "envoye": 1.0, "reussi": 2.0, "en attente": 2.0, "mon paiement": 1.0,
            "verifi*": 1.5, "pas+actif": 1.5, "achete+mais": 1.0,
        },
        "cancel_payment": {
            "annul*": 4.0, "annul*+achat*": 2.0, "annul*+commande*": 1.5, "annulation": 4.0,
            "abandonn*": 3.0, "supprim*+paiement": 3.0, "plus besoin": 1.0, "ne veux plus": 1.0,
        },
        "get_payment_history": {
            "historique": 3.0, "paiements": 2.0, "transactions": 2.5, "factures": 2.0,
            "achats": 2.0, "precedent*": 1.0, "jusqu ici": 1.5, "tous+paiements": 1.0,
            "dernier*": 0.5, "montre*": 0.3, "affich*": 0.3, "liste": 0.5,
            "paiement+echou*": 3.0, "ai+paye": 1.0,
            "combien+paiements": 2.0,
        },
        "language": {
            "langue": 3.0, "langues": 3.0, "parle*": 1.5, "passer en": 1.5, "passe en": 1.5,
            "change*": 1.0, "repond*": 1.0, "ecri*": 0.5,
            "en": 0.8,
        },
        "help": {
            "^bonjour": 2.0, "^salut": 2.0, "^coucou": 2.0, "^bonsoir": 2.5, "aide": 2.5,
            "aider": 2.0, "aidez": 2.0, "que peux tu faire": 3.0, "que sais tu faire": 3.0,
            "commandes": 2.5, "comment ca marche": 2.5, "comment fonctionne": 2.5,
            "merci": 2.0, "bot": 2.0, "menu": 2.0, "qui es tu": 2.0, "demarrer": 1.5,
        },
    },
    "stopwords": frozenset(
        """je j moi tu toi il elle on nous vous ils elles me m te t se s mon ma mes ton ta tes
        son sa ses notre votre vos leur le la les l un une des du de d au aux a en dans sur
        pour par avec et ou mais si ne n pas que qu quoi qui quel quelle quels quelles est
        sont suis es etre ai as avez avons ont avoir fait faire peux peut pouvez puis veux
        voudrais svp plait s il vous plait ce cet cette ces ca cela ici la deja encore aussi
        tres plus bien alors donc oui non comment ou quand pourquoi maintenant juste dites dis
        moment y""".split()
    ),
    "numbers": {
        "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8,
        "neuf": 9, "dix": 10, "vingt": 20,
    },
    "id_anchors": frozenset("paiement facture commande transaction id numero".split()),
    "count_before": frozenset("derniers dernieres recents premiers".split()),
    "count_nouns": frozenset("paiements factures transactions achats commandes".split()),
    "currency_words": frozenset("dollars dollar euros euro usd eur centimes".split()),
    "time_words": frozenset(
        """min mn minute minutes h heure heures sec seconde secondes jour jours semaine
        semaines mois""".split()
    ),
    "time_before": frozenset("depuis".split()),
    "coin_cues": {
        "create_crypto_payment": frozenset("avec via par".split()),
        "get_payment_estimate": frozenset(["en"]),
    },
    "coin_cues_after": {},
    "not_plan_after": frozenset("mois an annee semaine jour".split()),
    "domain": frozenset(
        """annul* abandonn* plan* abonn* forfait* formule* offre* monnaie* devise* crypto* token*
        pai* pay* prix cout* tarif* factur* argent frais historique transaction* statut etat
        command* achat* achet* reseau* portefeuille wallet reessay* langue* parl*""".split()
    ),
    "languages": {
        "anglais": "en", "allemand": "de", "espagnol": "es", "francais": "fr",
        "chinois": "zh", "japonais": "ja",
    },
    "coin_names": {},
    "coin_families": {},
    "plan_names": {},
    "negations": (r"\b(?:pas|jamais|annule\w*)\b",),
    "thanks": (r"\b(?:merci|au\s+revoir|[àa]\s+bient[ôo]t|bonne\s+journ[ée]e)\b",),
    "keep_payment": (
        r"\bne\s+(?:l['’]|la\s+|le\s+)?annul\w*\s+pas\b",
        r"\bn['’]\s*annul\w*\s+pas\b",
        r"\b(?:ne\s+)?pas\s+(?:l['’]|la\s+|le\s+)?annul",
    ),
}
# fmt: on
