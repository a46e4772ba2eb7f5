/**
 * The group story (group-story.ts) in fair weather, in a real browser against `umbra up` with its defaults:
 * a group by handles, everyone reads everyone, a removed member is told, keeps her history read-only and
 * reads nothing more. weather.test.ts runs the same story in bad weather.
 */
import { groupStory } from './group-story.ts';
import { browserTest } from './support.ts';

browserTest('the group story: a group of three, everyone reads everyone, a removal', [], (up, browser) =>
  groupStory(up, browser),
);
