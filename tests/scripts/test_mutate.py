#!/usr/bin/env python3
# scripts/mutate's site finder (docs/testing.md "Planted bugs"): what it
# plants and what it must never touch.  Runs in well under a second; the
# whole tool (build, tests, restore on a signal) is exercised by running
# it over a parser (docs/testing.md says how).
import importlib.machinery, importlib.util, os, unittest

HERE = os.path.dirname(os.path.abspath(__file__))
loader = importlib.machinery.SourceFileLoader('mutate', os.path.join(HERE, '..', '..', 'scripts', 'mutate'))
spec = importlib.util.spec_from_loader('mutate', loader)
mutate = importlib.util.module_from_spec(spec)
loader.exec_module(mutate)


def planted(src, kind=None):
    """Each mutant of src as the text it makes."""
    return [src[:s['start']] + s['new'] + src[s['end']:] for s in mutate.sites(src) if kind in (None, s['kind'])]


class Sites(unittest.TestCase):
    def test_flip_each_way(self):
        src = 'int f(int a, int b) { return a < b || a <= b || a > b || a >= b || a == b || a != b; }\n'
        flips = planted(src, 'flip')
        self.assertEqual(len(flips), 6)
        for old, new in (('a < b', 'a <= b'), ('a <= b', 'a < b'), ('a > b', 'a >= b'), ('a >= b', 'a > b'),
                         ('a == b', 'a != b'), ('a != b', 'a == b')):
            self.assertIn(src.replace(old, new, 1), flips)

    def test_bound_takes_the_whole_right_side(self):
        src = 'int f(unsigned n, unsigned *p) { return n > p[0] - 2 * N && n < M; }\n'
        bounds = planted(src, 'bound')
        self.assertIn(src.replace('p[0] - 2 * N', '(p[0] - 2 * N) + 1'), bounds)
        self.assertIn(src.replace('p[0] - 2 * N', '(p[0] - 2 * N) - 1'), bounds)
        self.assertIn(src.replace('n < M', 'n < (M) - 1'), bounds)
        self.assertEqual(len(bounds), 4)

    def test_bound_stops_at_a_lower_operator(self):
        src = 'int f(int a, int b, int c) { return (a < b + c) ? a == b & c : 0; }\n'
        bounds = planted(src, 'bound')
        self.assertIn(src.replace('a < b + c', 'a < (b + c) + 1'), bounds)
        self.assertIn(src.replace('a == b & c', 'a == (b) - 1 & c'), bounds)

    def test_no_bound_on_null_or_a_string(self):
        src = 'int f(char *p) { return p == NULL || p != "x"; }\n'
        self.assertEqual(planted(src, 'bound'), [])
        self.assertEqual(len(planted(src, 'flip')), 2)

    def test_check_removed_keeps_the_condition_s_side_effects(self):
        src = 'int f(void) { int rc; if ((rc = g()) < 0) goto out; if (h()) { x(); return 1; } if (k()) y(); out: return rc; }\n'
        checks = planted(src, 'check')
        self.assertEqual(checks, [src.replace('if ((rc = g()) < 0)', 'if (((rc = g()) < 0) && 0)'),
                                  src.replace('if (h())', 'if ((h()) && 0)')])

    def test_logic_each_way(self):
        src = 'int f(int a, int b) { return a && b || a; }\n'
        self.assertEqual(planted(src, 'logic'), [src.replace('&&', '||'), src.replace('||', '&&')])

    def test_never_touches_comments_strings_preprocessor_or_other_operators(self):
        src = ('#include <stdio.h>\n#define MAX(a, b) \\\n\t((a) > (b) ? (a) : (b))\n'
               '/* a < b && c */ // x == y\n'
               'int f(struct s *p) { char c = \'<\'; const char *s = "a < b || c"; '
               'p->n <<= 1; p->m >>= 2; return p->n << 1 >> 2; }\n')
        self.assertEqual(mutate.sites(src), [])

    def test_asserts_are_left_alone(self):
        src = ('void f(int a, int b) { IMGFS_ASSERT(a < b); IMGFS_ASSERT_HELD(&l); assert(a == b); '
               '_Static_assert(sizeof(int) >= 4, "x"); g(a > b); }\n')
        self.assertEqual([s['what'] for s in mutate.sites(src) if s['kind'] == 'flip'], ['> -> >='])

    def test_numbers_are_stable_and_lines_right(self):
        src = 'int f(int a)\n{\n\tif (a < 0)\n\t\treturn 1;\n\treturn a == 2;\n}\n'
        ss = mutate.sites(src)
        self.assertEqual([s['id'] for s in ss], list(range(1, len(ss) + 1)))
        self.assertEqual({s['line'] for s in ss}, {3, 5})
        self.assertEqual([s['kind'] for s in ss if s['line'] == 3], ['check', 'flip', 'bound', 'bound'])


class Failures(unittest.TestCase):
    def test_who_failed_names_the_test_and_the_cases(self):
        out = ('[  FAILED  ] test_gpt\n[  FAILED  ] 1 test(s), listed below:\n[  FAILED  ] test_gpt\n'
               'The following tests FAILED:\n\t 12 - unit_fs_inside_test_ptable (Failed)\n')
        self.assertEqual(mutate.who_failed(out), 'unit_fs_inside_test_ptable (test_gpt)')

    def test_who_failed_a_timeout(self):
        out = 'The following tests FAILED:\n\t  3 - unit_x_test_y (Timeout)\n'
        self.assertEqual(mutate.who_failed(out), 'unit_x_test_y')


class Sampling(unittest.TestCase):
    def test_the_same_seed_picks_the_same_mutants(self):
        with open(os.path.join(HERE, '..', '..', 'fs', 'inside', 'ptable.c')) as f:
            ss = mutate.sites(f.read())
        self.assertGreater(len(ss), 100)
        a = [s['id'] for s in mutate.sample_sites(ss, 20, 1)]
        self.assertEqual(a, [s['id'] for s in mutate.sample_sites(ss, 20, 1)])
        self.assertEqual(len(a), 20)
        self.assertEqual(a, sorted(a))
        self.assertNotEqual(a, [s['id'] for s in mutate.sample_sites(ss, 20, 2)])
        self.assertEqual(len(mutate.sample_sites(ss, 0, 1)), len(ss))
        self.assertEqual(len(mutate.sample_sites(ss, len(ss), 1)), len(ss))


if __name__ == '__main__':
    unittest.main()
