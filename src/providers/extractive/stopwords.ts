/**
 * Short stopword lists and a cheap language guess. The lists hold function words plus the
 * commonest auxiliary and filler words: in RAKE every stopword splits a phrase, so a word
 * missing here glues phrases together ("also said"), and one too many splits real terms.
 */

export type Language = 'en' | 'de' | 'fr';

const words = (list: string): ReadonlySet<string> => new Set(list.trim().split(/\s+/u));

const ENGLISH = words(`
  across ago almost became become begin began came come comes eight find five found four gave give
  given go goes going gone keep keeps kept know knew known last look looks need needs never new next
  nine perhaps put saw seem seems seven several show shows shown six sometimes soon take takes taken
  ten think three told took try two usually various want wants went yes first second
  a about above after again against all almost along already also although always am among an and
  another any anyone anything are around as at be became because become been before being below
  between both but by can can't cannot could couldn't did didn't do does doesn't doing don't done
  down during each either else enough even ever every few for from further get gets got had hadn't
  has hasn't have haven't having he he'd he'll he's her here hers herself him himself his how however
  i i'd i'll i'm i've if in into is isn't it it's its itself just least less let's like made make
  makes many may me might more most much must my myself neither no nor not now of off often on once
  one only or other others our ours ourselves out over own per quite rather really said same say
  says see seen shall she she'd she'll she's should shouldn't since so some something still such
  than that that's the their theirs them themselves then there there's these they they'd they'll
  they're they've this those though through thus to too toward towards under until up upon us used
  using very via was wasn't we we'd we'll we're we've well were weren't what what's when where
  whether which while who who's whom whose why will with within without won't would wouldn't yet you
  you'd you'll you're you've your yours yourself yourselves
`);

const GERMAN = words(`
  acht bereits dabei dafür daher darauf davon dazu dürfen darf drei durfte erste ersten fast fünf gab
  ganz gar geben gibt geht gehen ging heute kam kommen kommt konnte lassen lässt mal machen macht
  machte müssen neun nie oft sagen sagt sagte sechs sehen sei sieben sieht sogar soll sollen vier
  wäre wären weniger will wollen wollte wohl worden zehn zwei hätte hätten selbst
  aber alle allem allen aller alles als also am an andere anderen auch auf aus bei beim bin bis bist
  da damit dann das dass dein deine dem den denn der des dessen deshalb die dies diese diesem diesen
  dieser dieses doch dort du durch ein eine einem einen einer eines er es etwa euch euer für gegen
  gewesen hab habe haben hat hatte hatten hier hin ich ihm ihn ihnen ihr ihre ihrem ihren ihrer im
  in indem ins ist ja jede jedem jeden jeder jedes jedoch jetzt kann kein keine keinem keinen können
  könnte man manche mehr mein meine mit muss musste nach nicht nichts noch nun nur ob oder ohne schon
  sehr sein seine seinem seinen seiner sich sie sind so sollte sondern sowie über um und uns unser
  unter usw viel vom von vor war waren warum was weil welche welchem welchen welcher wenn wer werden
  wie wieder wir wird wo wurde wurden zu zum zur zwar zwischen
`);

const FRENCH = words(`
  a ai ainsi alors as avons avez bien ceux chez cinq contre depuis deux dire dit doit doivent déjà
  es étaient était êtes faire font huit lors moins neuf non oui pendant peuvent plusieurs pouvait
  premier première quatre selon sept sera serait seraient seront six sommes suis tant tel telle
  toujours trois trop vers voici voilà dix
  à au aucun aussi autre aux avait avec avoir c' ça car ce ceci cela celle celui ces cet cette chaque
  comme d' dans de des donc dont du elle elles en encore entre est et été être eu fait il ils j' je
  jusqu' l' la le les leur leurs lorsqu' lui m' ma mais me même mes moi mon n' ne ni nos notre nous
  on ont ou où par pas peu peut plus pour puis puisqu' qu' quand que quel quelle qui s' sa sans se
  ses si son sont sous sur ta te tes toi ton tous tout toute toutes très tu un une vos votre vous y
`);

const LISTS: Readonly<Record<Language, ReadonlySet<string>>> = { en: ENGLISH, de: GERMAN, fr: FRENCH };

export function stopwordsFor(language: Language): ReadonlySet<string> {
  return LISTS[language];
}

// A few hundred words decide it; reading further only costs time.
const SAMPLE_WORDS = 2000;

/**
 * Guesses the language from which list matches the most of the first words (lower-cased).
 * English wins ties, including text where no list matches at all.
 */
export function detectLanguage(lowerWords: Iterable<string>): Language {
  const hits: Record<Language, number> = { en: 0, de: 0, fr: 0 };
  let seen = 0;
  for (const w of lowerWords) {
    if (seen++ >= SAMPLE_WORDS) break;
    for (const lang of ['en', 'de', 'fr'] as const) if (LISTS[lang].has(w)) hits[lang]++;
  }
  if (hits.de > hits.en && hits.de >= hits.fr) return 'de';
  if (hits.fr > hits.en && hits.fr > hits.de) return 'fr';
  return 'en';
}
