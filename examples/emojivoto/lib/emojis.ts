/**
 * The emoji on the ballot: the same 99 shortcodes (the original calls them top100Emoji), in the same order, as the original
 * emojivoto's emoji service, each with its character. The voting service's RPCs
 * (`VoteJoy`, `VoteDoughnut`, ...) and the web service's vote routing are derived from
 * this list, so it is the one place an emoji is added or removed.
 */
export interface Emoji {
  unicode: string;
  shortcode: string;
}

const TOP_100: ReadonlyArray<readonly [shortcode: string, unicode: string]> = [
  [':joy:', '\u{1F602}'],
  [':sunglasses:', '\u{1F60E}'],
  [':doughnut:', '\u{1F369}'],
  [':stuck_out_tongue_winking_eye:', '\u{1F61C}'],
  [':money_mouth_face:', '\u{1F911}'],
  [':flushed:', '\u{1F633}'],
  [':mask:', '\u{1F637}'],
  [':nerd_face:', '\u{1F913}'],
  [':ghost:', '\u{1F47B}'],
  [':skull_and_crossbones:', '\u{2620}\u{FE0F}'],
  [':heart_eyes_cat:', '\u{1F63B}'],
  [':hear_no_evil:', '\u{1F649}'],
  [':see_no_evil:', '\u{1F648}'],
  [':speak_no_evil:', '\u{1F64A}'],
  [':boy:', '\u{1F466}'],
  [':girl:', '\u{1F467}'],
  [':man:', '\u{1F468}'],
  [':woman:', '\u{1F469}'],
  [':older_man:', '\u{1F474}'],
  [':policeman:', '\u{1F46E}'],
  [':guardsman:', '\u{1F482}'],
  [':construction_worker_man:', '\u{1F477}'],
  [':prince:', '\u{1F934}'],
  [':princess:', '\u{1F478}'],
  [':man_in_tuxedo:', '\u{1F935}'],
  [':bride_with_veil:', '\u{1F470}'],
  [':mrs_claus:', '\u{1F936}'],
  [':santa:', '\u{1F385}'],
  [':turkey:', '\u{1F983}'],
  [':rabbit:', '\u{1F430}'],
  [':no_good_woman:', '\u{1F645}'],
  [':ok_woman:', '\u{1F646}'],
  [':raising_hand_woman:', '\u{1F64B}'],
  [':bowing_man:', '\u{1F647}'],
  [':man_facepalming:', '\u{1F926}\u{200D}\u{2642}\u{FE0F}'],
  [':woman_shrugging:', '\u{1F937}\u{200D}\u{2640}\u{FE0F}'],
  [':massage_woman:', '\u{1F486}'],
  [':walking_man:', '\u{1F6B6}'],
  [':running_man:', '\u{1F3C3}'],
  [':dancer:', '\u{1F483}'],
  [':man_dancing:', '\u{1F57A}'],
  [':dancing_women:', '\u{1F46F}'],
  [':rainbow:', '\u{1F308}'],
  [':skier:', '\u{26F7}\u{FE0F}'],
  [':golfing_man:', '\u{1F3CC}\u{FE0F}'],
  [':surfing_man:', '\u{1F3C4}'],
  [':basketball_man:', '\u{26F9}\u{FE0F}'],
  [':biking_man:', '\u{1F6B4}'],
  [':point_up_2:', '\u{1F446}'],
  [':vulcan_salute:', '\u{1F596}'],
  [':metal:', '\u{1F918}'],
  [':call_me_hand:', '\u{1F919}'],
  [':thumbsup:', '\u{1F44D}'],
  [':wave:', '\u{1F44B}'],
  [':clap:', '\u{1F44F}'],
  [':raised_hands:', '\u{1F64C}'],
  [':pray:', '\u{1F64F}'],
  [':dog:', '\u{1F436}'],
  [':cat2:', '\u{1F408}'],
  [':pig:', '\u{1F437}'],
  [':hatching_chick:', '\u{1F423}'],
  [':snail:', '\u{1F40C}'],
  [':bacon:', '\u{1F953}'],
  [':pizza:', '\u{1F355}'],
  [':taco:', '\u{1F32E}'],
  [':burrito:', '\u{1F32F}'],
  [':ramen:', '\u{1F35C}'],
  [':champagne:', '\u{1F37E}'],
  [':tropical_drink:', '\u{1F379}'],
  [':beer:', '\u{1F37A}'],
  [':tumbler_glass:', '\u{1F943}'],
  [':world_map:', '\u{1F5FA}\u{FE0F}'],
  [':beach_umbrella:', '\u{1F3D6}\u{FE0F}'],
  [':mountain_snow:', '\u{1F3D4}\u{FE0F}'],
  [':camping:', '\u{1F3D5}\u{FE0F}'],
  [':steam_locomotive:', '\u{1F682}'],
  [':flight_departure:', '\u{1F6EB}'],
  [':rocket:', '\u{1F680}'],
  [':star2:', '\u{1F31F}'],
  [':sun_behind_small_cloud:', '\u{1F324}\u{FE0F}'],
  [':cloud_with_rain:', '\u{1F327}\u{FE0F}'],
  [':fire:', '\u{1F525}'],
  [':jack_o_lantern:', '\u{1F383}'],
  [':balloon:', '\u{1F388}'],
  [':tada:', '\u{1F389}'],
  [':trophy:', '\u{1F3C6}'],
  [':iphone:', '\u{1F4F1}'],
  [':pager:', '\u{1F4DF}'],
  [':fax:', '\u{1F4E0}'],
  [':bulb:', '\u{1F4A1}'],
  [':money_with_wings:', '\u{1F4B8}'],
  [':crystal_ball:', '\u{1F52E}'],
  [':underage:', '\u{1F51E}'],
  [':interrobang:', '\u{2049}\u{FE0F}'],
  [':100:', '\u{1F4AF}'],
  [':checkered_flag:', '\u{1F3C1}'],
  [':crossed_swords:', '\u{2694}\u{FE0F}'],
  [':floppy_disk:', '\u{1F4BE}'],
  [':poop:', '\u{1F4A9}'],
];

/** Every emoji, in ballot order. */
export const EMOJI: readonly Emoji[] = Object.freeze(
  TOP_100.map(([shortcode, unicode]) => Object.freeze({ unicode, shortcode })),
);

const BY_SHORTCODE = new Map(EMOJI.map((e) => [e.shortcode, e]));

/** The emoji with this shortcode (`:joy:`), or undefined. */
export function findByShortcode(shortcode: string): Emoji | undefined {
  return BY_SHORTCODE.get(shortcode);
}

/** The emoji whose vote always fails (emojivoto's deliberate bug). */
export const DOUGHNUT = ':doughnut:';

/**
 * The voting RPC for a shortcode, named as the original does: the words between the colons,
 * each capitalised, after `Vote` (`:stuck_out_tongue_winking_eye:` → `VoteStuckOutTongueWinkingEye`,
 * `:100:` → `Vote100`).
 */
export function voteRpcName(shortcode: string): string {
  const words = shortcode.replace(/^:|:$/g, '').split('_');
  return `Vote${words.map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')}`;
}
