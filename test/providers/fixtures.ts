/** Real-looking prose for the extractive provider tests; paragraphs are separated by blank lines. */

export const ENGLISH = `Honeybees are the most important pollinators of food crops in Europe. A single honeybee colony can visit millions of flowers in one season, and farmers rent honeybee hives to pollinate almonds, apples and oilseed rape.

In recent winters many beekeepers have reported heavy losses of honeybee colonies. Researchers blame a mix of causes: the varroa mite, pesticides such as neonicotinoids, and a lack of flowering plants after the harvest. Dr. Smith, who studies honeybee health at the university, estimates that losses above 3.14 percent per month are a warning sign.

The weather also matters. A cold, wet spring keeps foragers in the hive. Cities have started to plant wildflowers on roundabouts, e.g. poppies and cornflowers, to feed honeybees and wild bees alike.`;

export const GERMAN = `Die Energiewende verändert den Strommarkt in Deutschland grundlegend. Solaranlagen auf den Dächern von Privathäusern liefern an sonnigen Tagen mehr Strom, als das Netz aufnehmen kann. Deshalb investieren die Netzbetreiber Milliarden in neue Leitungen und Speicher.

Am 3. Oktober erzeugten Windräder und Solaranlagen zum ersten Mal mehr als zwei Drittel des Stroms. Kritiker weisen z. B. auf die hohen Kosten für Verbraucher hin. Die Bundesregierung will die Netzentgelte deshalb bis 2030 senken.

Für Hausbesitzer lohnt sich eine Solaranlage mit Speicher fast immer. Der selbst erzeugte Strom ist günstiger als der Strom aus dem Netz.`;

export const FRENCH = `L'abeille domestique joue un rôle essentiel dans la pollinisation des cultures. « Sans les abeilles, nos vergers seraient vides ! » explique M. Dupont, apiculteur en Provence. Les pertes de colonies d'abeilles inquiètent les chercheurs depuis des années.`;

/**
 * One subject (solar panels) runs through every sentence but the first and last, and the second
 * sentence links it to everything the others mention: it is the text's obvious centre.
 */
export const SOLAR = `The town council met on Tuesday evening. Rooftop solar panels now power the town hall, the library and the school. The library saved money after its solar panels were installed. Pupils at the school monitor the solar panels in science lessons. The town hall sells surplus electricity from its solar panels. A bakery on the main street closed in March.`;

export const SOLAR_CENTRE = 'Rooftop solar panels now power the town hall, the library and the school.';
