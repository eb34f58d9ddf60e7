package analysis

// commonWords are, per language, the short function words (articles,
// pronouns, prepositions, conjunctions, auxiliaries) that make up a large
// share of any text in it and that a post of a few words almost always
// holds. Written for affinityd from knowledge of the languages, not taken
// from a corpus. Words shared by languages are listed in each: they count
// for all of them with a weight split between them (see wordLanguages).
// Elided forms are listed as the tokenizer emits them ("l'", "n't").
var commonWords = map[string]string{
	// Latin script.
	"en": `will been being these those where many most other new first the and of to a an in is it that for you was with on are this be have not
		but at they from or by we what my i so if do does did just about can will your all
		there their has been me would how why who when our get more out up no like one as he
		she his her had them than then very really still never always today again anyone
		its it's i'm i've don't can't n't 's 'm 're 'll 've 'd were which also only any some
		into over after before because should could us here now well too much even got`,
	"de": `alles seine sein ihre ihren will soll muss neue neuen viel mehr gegen ohne unter vor sowie bereits wieder hier der die das und ist nicht ich es ein eine zu den mit sich des auf für im dem
		von auch sie wir ihr er aber an so wie noch nur bei nach am aus oder wenn dass kann hat
		habe haben sind war wird werden mein meine mir mich dir schon sehr jetzt immer kein
		keine heute wieder seit über um was warum bis durch einen einem einer vom zum zur ja
		nein doch mal endlich gibt wurde euch uns man gerade diese dieser dieses denn weil`,
	"fr": `le la les de des du un une et est à en que qui pour dans pas ne sur au aux
		avec ce cette ces il elle ils elles on nous vous je mais ou plus par son sa ses mon
		ma mes très tout tous été fait être avoir a ai sont était comme aussi déjà encore
		toujours jamais même quand si y leur c' l' d' j' n' qu' s' m' t' ça rien chez vraiment`,
	"es": `de la que el en y a los se del las un por con no una su para es al lo como
		más pero sus le ya o este esta fue ha muy me mi sin sobre también hasta hay donde
		desde todo nos cuando porque yo tú él ella están está son ser tiene tengo hoy otra
		vez ni eso esto qué cómo mis estoy hace nada siempre nunca`,
	"pt": `de a o que e do da em um para é com não uma os no se na por mais as dos
		como mas ao ele das à seu sua ou quando muito nos já eu também só pelo pela até
		isso ela entre depois sem mesmo aos meu minha você vocês está estou são foi tem ter
		hoje ainda nunca sempre porque então aqui nada num numa pra`,
	"it": `di e il la che è per un in non una a sono mi ho lo ma ha le si con del della
		da i gli al come anche più questo questa se io tu noi voi loro nel nella alla dei
		delle sul sulla molto ancora sempre già oggi perché quando cosa tutto tutti stato
		essere fare dell' l' un' all' nell' sull' c' ci ne mai niente proprio`,
	"ca": `i de la el que a en les els per un una és amb no es del al dels als com més
		però aquest aquesta molt també ja jo tu ell ella nosaltres vosaltres ells seu seva
		meu meva quan perquè on sense fins avui encara sempre mai tot res l' d' n' s' m'
		aquí hi ha són està estic fa`,
	"nl": `de het een van en in is dat op te niet met voor zijn er maar ook als aan om bij
		je ik we wij ze hij zij dit die naar nog wel geen heb heeft was werd wordt kan zo
		door uit al over mijn jullie hun wat hoe waarom mij me nu dan veel heel echt weer
		altijd nooit vandaag wordt zijn hebben moet`,
	"sv": `och att det i en som är på av för med till den har de inte om ett jag du vi ni
		han hon men var sig så kan från eller när efter också bara nu mycket här där vad hur
		varför min mitt mina din er deras sin skulle blir blev ska vara finns över under
		idag igen alltid aldrig mig dig någon något många`,
	"da": `og i at det er en til på de af for med den har ikke som et jeg du vi han hun
		men var sig så kan fra eller når efter også bare nu meget her der hvad hvordan
		hvorfor min mit mine din jer deres sin skulle bliver blev skal være findes over
		under idag igen altid aldrig mig dig nogle noget mange hvis`,
	"nb": `og i at det er en til på de av for med den har ikke som et jeg du vi han hun
		men var seg så kan fra eller når etter også bare nå veldig her der hva hvordan
		hvorfor min mitt mine din dere deres sin skulle blir ble skal være finnes over
		under idag igjen alltid aldri meg deg noen noe mange hvis ei`,
	"fi": `ja on ei se että oli ovat mutta kun niin jo myös tai kuin joka jos vain nyt
		sitten minä sinä hän me te he olen olet olemme tämä tuo siitä sen hyvin paljon koska
		vielä aina mitä miten miksi kanssa minun sinun meidän ole en et emme taas tänään`,
	"pl": `i w na z nie się to że do jest o a jak ale po co tak za od są ja ty my wy on
		ona oni mnie mi już jeszcze tylko bardzo może być był była było tego ten ta te tym
		który która które jego jej ich dla przez przy bez pod nad czy gdy kiedy bo więc też
		także tu tutaj dziś dzisiaj zawsze nigdy mój moja moje jestem`,
	"cs": `a je se na v že to s z o do jsem jsou ale jak k tak by pro po od už jen jsme
		není být bylo byl když který která které co mi mě tady taky také ještě nebo protože
		aby velmi moc můj moje dnes vždy nikdy jsi jste`,
	"sk": `a je sa na v že to s z o do som sú ale ako k tak by pre po od už len sme nie
		byť bolo bol keď ktorý ktorá ktoré čo mi ma tu tiež ešte alebo pretože aby veľmi
		môj moja dnes vždy nikdy si ste`,
	"hr": `i je u na se da za od s sa su ne to što kao ali iz po do ili će bio bila jer
		kada samo još već koji koja koje ovaj ova ima nema sam smo ste bi mi me danas uvijek
		nikad vrlo jako`,
	"sl": `in je v na se da za so ne to z s po pa kot ki ali tudi sem smo ste bil bila
		bilo že še samo zelo kaj kako ker če ta ti ter iz od do danes vedno nikoli mi`,
	"ro": `și şi în de la a să nu cu pe care din că o un este sunt mai pentru dar ce se am
		ai fost sau foarte doar când cum acest această după despre eu tu noi voi ei lor lui
		dacă încă azi astăzi mereu niciodată`,
	"hu": `a az és hogy nem is egy van meg de már csak ez azt el mint ha még volt vagy mert
		után nagyon minden nincs lesz kell itt ott én te mi ti ők amit ami aki ezt sem
		vagyok ma mindig soha`,
	"tr": `ve bir bu da de için ile çok ne ama gibi daha en o ben sen biz siz onlar var
		yok mi mı mu mü değil olarak olan kadar sonra şimdi her ki diye ya veya hiç bana
		beni bunu şu neden nasıl bugün hep hala`,
	"id": `yang dan di ini itu dengan untuk tidak dari dalam akan pada juga ke saya kami
		kita mereka anda ada bisa sudah belum karena atau tapi tetapi seperti lebih hanya
		sangat jika kalau apa aku kamu lagi banyak baru sama oleh saja hari sekali`,
	"ms": `yang dan di ini itu dengan untuk tidak dari dalam akan pada juga ke saya kami
		kita mereka anda ada boleh sudah belum kerana atau tetapi seperti lebih hanya sangat
		jika kalau apa aku kamu lagi banyak baru sama oleh sahaja hari sangat amat`,
	"tl": `ang ng sa na mga at ay ko mo hindi ako ikaw siya kami tayo sila ito iyan para
		kung lang naman po din rin pa ba may wala yung talaga nga kasi`,
	"vi": `của và là có không được cho người những các một này với trong đã để khi thì
		cũng như từ đến tôi bạn chúng rất nhưng sẽ đang vì nên lại ra vào`,
	// Cyrillic script.
	"ru": `много про всё тут там вот мой моя нас вас ему ей им них него где кто почему надо сегодня без над под через после себя свой тот который которые и в не на я что с по это он а как но к у за из так же от все мы вы они бы был
		было только уже для меня мне еще ещё нет да очень если или когда при его её их
		этот эта до чем то ли быть сейчас тоже даже можно нужно будет`,
	"uk": `багато тут там ось мій моя нас вас йому їй їм них нього де хто чому сьогодні без над під себе свій який які і в у не на що з та це я як до за але від так для ми ви вони він вона його її
		їх є був було дуже якщо коли або вже ще тільки теж також мене мені чи цей ця щоб
		про після через бо ні можна треба буде`,
	"bg": `тук там мой моя нас вас му й им тях него къде кой защо днес без над под през себе си който които и в на не да се е за от с че са по как това но той тя те ние вие аз ще беше
		бяха има няма много към при след още само тази този които който когато или ли до
		из`,
	"sr": `и у на је да се не за од са су то што као али из по до или ће био била јер када
		само још већ који која које овај ова има нема сам смо`,
	"mk": `и на во не да се е за од со што ќе како но тоа тој таа тие ние сум си беше има
		нема многу или кога само уште веќе кој која кое овој оваа`,
	"be": `і у ў не на што з а гэта я як да за але ад так для мы вы яны ён яна яго яе іх
		быў было вельмі калі або ужо яшчэ толькі таксама мяне мне ці гэты гэтая каб пра
		пасля`,
	// Arabic script.
	"ar": `في من على إلى عن أن إن هذا هذه التي الذي ما لا مع كان قد هو هي كل بعد قبل
		بين ذلك لم لن أو ثم حتى عند الى انا أنا نحن هم كانت يا`,
	"fa": `و در به از که این را با است آن برای تا یک هم بود شد می های ها ما من او شما
		آنها اما یا هر نیز خود کرد شده باید چه نه دیگر`,
	"ur": `کے کی اور میں سے کا کو ہے ہیں نے یہ وہ پر بھی تھا تھی تھے کہ ایک لیے کر گیا
		ہو جو اس ان نہیں تو کیا ساتھ بعد گی گے`,
	// Hebrew script.
	"he": `של את על לא זה הוא היא עם כי אני גם מה יש אבל או אם כל רק עוד היה הם אנחנו
		אתה לי לו אין כמו אז שלא מאוד זאת אחרי עד`,
	// Devanagari script.
	"hi": `के है में की और से का को हैं यह ने पर भी एक था कि लिए नहीं तो हो इस कर ही जो
		वह थे गया साथ कुछ अपने बहुत मैं हम आप`,
	"mr": `आहे आणि या की हे ते त्या ही व ने मी आम्ही तुम्ही आहेत होते नाही पण का तर
		म्हणून केले करून आता खूप`,
	"ne": `को र मा छ हो पनि गर्न भएको यो त्यो एक थियो छन् लागि गरेको हुन्छ भने तर म
		हामी तपाईं के`,
}

// commonLetters are, per language, letters its words use and few other
// languages' do; each word holding one counts as half a common word (split
// like the words between the languages that list it), so "außerhalb" or
// "моём" add evidence where a post's common words are few.
var commonLetters = map[string]string{
	"de": "ßäöü", "fr": "çéèêëàâîïôûœ", "es": "ñáéíóúü¿¡", "pt": "ãõçáéíóúâêô", "it": "àèéìòù",
	"ca": "çàèéíïòóú·", "nl": "ĳ", "sv": "åäö", "da": "åæø", "nb": "åæø", "fi": "äö",
	"pl": "ąćęłńóśźż", "cs": "áčďéěíňóřšťúůýž", "sk": "áäčďéíĺľňóôŕšťúýž", "hr": "čćđšž",
	"sl": "čšž", "ro": "ăâîșțşţ", "hu": "áéíóöőúüű", "tr": "çğıöşü", "vi": "ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ",
	"ru": "ыэёъ", "uk": "іїєґ", "bg": "ъщ", "sr": "јљњђћџ", "mk": "јљњѓќѕџ", "be": "ўіыэё",
	"fa": "پچژگکی", "ur": "ٹڈڑںھہےیک", "ar": "ةيكى",
}

// commonEndings are, per language, word endings (of 2 to 7 bytes) typical of
// it and rare in its neighbours', for the posts whose function words tie two
// related languages ("atención" es, "atenção" pt, "attenzione" it,
// "atenció" ca). They weigh like letters.
var commonEndings = map[string]string{
	"es": "ción ciones dad dades mente ado ados ada adas iendo ando aron", "pt": "ção ções dade dades mente ando endo aram inho inha",
	"it": "zione zioni mente ato ati ata ando endo ità", "ca": "ció cions tat ment ats ava aven", "fr": "tion ment eux euse ées ait aient",
	"en": "tion ing ly ness ed ity", "de": "ung ungen keit heit lich isch chen", "nl": "heid lijk tje ijk", "sv": "ning het lig", "da": "hed lig ning", "nb": "het lig ning",
	"pl": "ość ych ego ach ami", "cs": "ost ých ého ách ami", "ro": "ului ilor ție ţie ările", "tr": "lar ler dır dir", "id": "kan nya", "ms": "kan nya",
}
