"""Spanish words for the offline router (see :mod:`bot.agent.lexicons.schema`).

Accents are folded away ("qué" == "que"), and so is the German "ue" -> "u" rule that applies
to every table: "cuesta" is stored as "custa"; write the words as Spaniards do, the router
folds both sides alike.
"""

from __future__ import annotations

from bot.agent.lexicons.schema import Lexicon

# fmt: off
ES: Lexicon = {
    "intents": {
        "get_user_plan": {
            "mi+plan": 2.5, "mi+suscripcion": 2.5, "mi+membresia": 2.5, "mi+tarifa": 2.5,
            "plan+tengo": 1.5, "suscripcion+tengo": 1.5, "que+plan": 1.0, "cual+plan": 1.0,
            "actual": 1.0, "actualmente": 1.0, "activo": 1.0, "activa": 1.0,
            "activado": 1.0, "vence": 1.5, "vencimiento": 1.5, "caduca*": 1.5,
            "expira": 1.5, "suscrito": 2.5, "suscrita": 2.5, "estoy suscrit*": 1.0,
            "suscripcion": 0.8, "membresia": 0.8, "plan": 0.5, "ahora mismo": 0.5,
            "vale+pena": 2.5, "mejora+aporta": 3.0,
        },
        "recommend_best_currency": {
            "recomiend*": 3.0, "recomend*": 3.0, "sugier*": 3.0, "suger*": 3.0, "aconsej*": 3.0,
            "mejor": 1.5, "mas barat*": 2.5, "barat*": 1.5, "comision*": 1.0, "tarifas": 1.0,
            "deberia": 1.2, "debo": 1.2, "conviene": 2.0, "con que": 1.5, "elegir": 1.0,
            "que+moneda": 0.8, "cual+moneda": 0.8, "que+cripto*": 1.0, "mejor+moneda": 1.0,
            "moneda para": 2.5, "cripto para": 2.5, "criptomoneda para": 2.5, "usar": 0.3,
            "uso": 0.5, "cripto*+para": 1.0,
        },
        "get_available_cryptocurrencies": {
            "acept*": 3.0, "admit*": 2.5, "soport*": 2.5, "disponible*": 2.0, "monedas": 1.2,
            "criptomonedas": 1.5, "criptos": 1.2, "tokens": 1.2, "cripto": 1.0,
            "metodos de pago": 2.5, "formas de pago": 2.5, "opciones": 1.0, "puedo pagar": 2.5,
            "puede pagar": 2.5,
            "que+monedas": 1.0, "cuales+monedas": 1.0, "que+criptomonedas": 1.0,
            "cuales+criptomonedas": 1.0, "teneis": 1.5, "lista": 0.8, "todas": 0.5, "tomais": 2.0,
        },
        "get_payment_estimate": {
            "cuesta": 2.5, "costar*": 2.5, "costo": 2.5, "coste": 2.5, "precio*": 2.5,
            "cuanto": 2.5, "cuanta": 2.0, "cotizacion": 2.5, "presupuesto": 2.5, "caro": 2.0,
            "sale": 0.5, "necesito": 0.5, "seria": 0.5,
        },
        "create_crypto_payment": {
            "suscribe*": 3.0, "genera*+pago": 3.0, "porfa": 0.3,
            "comprar": 3.0, "compro": 3.0, "compra": 2.5, "adquirir": 3.0, "suscribir*": 3.0,
            "contratar": 3.0, "contrato": 2.5, "pedir": 2.0, "pagar": 2.0, "pago con": 1.0,
            "mejorar": 2.5, "renovar": 2.5, "crear": 3.0, "crea": 3.0, "factura": 2.0,
            "quiero": 1.5, "quisiera": 1.5, "me gustaria": 0.8, "dame": 1.5, "me quedo": 1.5,
            "tomo": 1.0, "prefiero": 1.5,
        },
        "retry_failed_payment": {
            "caduco": 1.5, "nueva cotizacion": 3.0, "nuevo presupuesto": 3.0,
            "nueva+cotizacion": 2.0,
            "reintent*": 4.0, "volver a intentar": 3.0, "vuelve a intentar": 3.0,
            "de nuevo": 2.0, "otra vez": 2.0, "nuevamente": 2.0, "repet*": 3.0, "rehacer": 3.0,
            "fallo": 1.5, "fallido": 1.5, "fallada": 1.5, "intent*": 0.5, "expirado": 1.0,
            "caducado": 1.0, "reinicia*": 3.0,
        },
        "check_payment_status": {
            "fue+cancelad*": 5.0, "esta+cancelad*": 5.0, "por+que+cancel*": 5.0,
            "fue+anulad*": 5.0, "esta+anulad*": 5.0,
            "entro": 2.0, "ya+entro": 3.0, "transferencia": 1.0,
            "estado": 2.5, "confirm*": 2.0, "llego": 2.5, "llegado": 2.5, "recibi*": 2.0,
            "proces*": 2.0, "completad*": 1.5, "listo": 1.5, "donde+pago": 2.0,
            "pagado": 1.2, "pague": 1.2, "ya+pague": 3.0, "ya+pagado": 3.0, "no+activ*": 1.5,
            "dinero": 1.0, "envie": 1.0, "enviado": 1.0, "exito*": 2.0, "pendiente": 2.0,
            "mi pago": 1.0, "revis*": 1.0, "comprob*": 1.0, "verific*": 1.5, "compre": 1.0,
            "paso": 0.8, "como va": 2.0,
        },
        "cancel_payment": {
            "cancel*": 4.0, "cancel*+compra*": 2.0, "anul*": 4.0, "ya no": 1.0, "borra*+pago": 3.0,
            "elimina*+pago": 3.0, "no quiero+pagar": 1.0,
        },
        "get_payment_history": {
            "historial": 3.0, "pagos": 2.0, "transacciones": 2.5, "facturas": 2.0,
            "compras": 2.0, "anterior*": 1.0, "hasta ahora": 1.5, "todos+pagos": 1.0,
            "ultim*": 0.5, "muestr*": 0.3, "mostrar": 0.3, "lista": 0.5, "pago+fall*": 3.0,
            "he+pagado": 1.5, "registro": 2.0, "cuantos+pagos": 2.0,
        },
        "language": {
            "^pon": 1.0, "pon+bot": 1.5,
            "idioma": 3.0, "idiomas": 3.0, "lengua": 2.0, "habl*": 1.5, "cambia*": 1.0,
            "en": 0.8, "responde*": 1.0, "escrib*": 0.5,
        },
        "help": {
            "puedes hacer": 3.0, "que+haces": 2.5,
            "^hola": 2.0, "^buenas": 2.0, "^buenos dias": 2.5, "^buenas tardes": 2.5,
            "^buenas noches": 2.5, "ayuda": 2.5, "ayudar*": 2.0, "ayudame": 2.5,
            "que puedes hacer": 3.0, "que sabes hacer": 3.0, "comandos": 2.5,
            "como funciona": 2.5, "gracias": 2.0, "bot": 2.0, "menu": 2.0, "quien eres": 2.0,
            "empezar": 2.0,
        },
    },
    "stopwords": frozenset(
        """yo tu usted el ella nosotros vosotros me te se mi mis tus su sus lo la los las le
        les un una unos unas de del a al en con por para y o pero si no que cual cuales como
        donde cuando es son soy estoy esta estan era fue ser estar he ha han hay tengo tiene
        tienes tener puedo puedes puede podria podrias quiero quieres necesito favor mas muy
        ya todavia aun tambien este esto ese esa eso aqui ahi hace hoy ahora bien vale porque
        algo alguna algun mucho muchas ok oye hey decir dime saber sabes ver""".split()
    ),
    "numbers": {
        "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6, "siete": 7, "ocho": 8,
        "nueve": 9, "diez": 10, "veinte": 20,
    },
    "id_anchors": frozenset("pago factura pedido transaccion id numero nro n".split()),
    "count_before": frozenset("ultimos ultimas recientes primeros".split()),
    "count_nouns": frozenset("pagos facturas transacciones compras pedidos".split()),
    "currency_words": frozenset("dolares dolar euros euro usd eur centimos pesos".split()),
    "time_words": frozenset(
        """min mins minuto minutos h hr hora horas seg segundo segundos dia dias semana
        semanas mes meses""".split()
    ),
    "time_before": frozenset("hace desde".split()),
    "coin_cues": {
        "create_crypto_payment": frozenset("con usando via mediante".split()),
        "get_payment_estimate": frozenset(["en"]),
    },
    "coin_cues_after": {},
    "not_plan_after": frozenset("mes ano semana dia".split()),
    "domain": frozenset(
        """cancel* anul* plan* suscri* membres* moneda* cripto* token* pag* precio* cost* cuest*
        factura* dinero comision* historial transacc* estado pedido* compr* red* billetera
        wallet reintent* idioma* lengua habl*""".split()
    ),
    "languages": {
        "ingles": "en", "aleman": "de", "espanol": "es", "castellano": "es",
        "frances": "fr", "chino": "zh", "japones": "ja",
    },
    "coin_names": {},
    "coin_families": {},
    "plan_names": {},
    "negations": (r"\bno (?:quiero|deseo|voy|necesito|compr\w*|pag\w*|me)\b",
                  r"\b(?:nunca|cancela\w*|anula\w*)\b"),
    "thanks": (r"\b(?:gracias|adi[oó]s|hasta\s+luego|chao)\b",),
    "keep_payment": (
        r"\bno\s+(?:\w+\s+){0,2}(?:cancel|anul)",
    ),
}
# fmt: on
