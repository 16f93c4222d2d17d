//! Small-cell suppression. A cell is hidden (no numerator, no rate) when the hospitals behind it
//! that the caller may not see are fewer than the threshold — counting only those it may not see,
//! so that a prefecture official cannot subtract its own hospitals from a national total to learn a
//! neighbour's. Then, within every line of cells that adds up to a total the caller can ask for
//! (along each grouping dimension, and prefectures within their region), a single hidden cell is
//! joined by the next smallest, so that no hidden value follows from the total by subtraction.

use std::collections::BTreeMap;

use super::{Dimension, Group};

/// One cell as the engine computed it, with the part the caller may see behind it.
#[derive(Clone, Debug)]
pub struct Cell {
    pub fiscal_year: i16,
    pub metric: String,
    pub group: Group,
    pub numerator: i64,
    pub denominator: i64,
    /// Denominator of the hospitals behind the cell that the caller may not see.
    pub hidden: i64,
    pub suppressed: bool,
}

/// Marks the cells to suppress, in place. `region_of` places a prefecture in its region.
pub fn apply(cells: &mut [Cell], dims: &[Dimension], threshold: i64, region_of: impl Fn(i16) -> Option<String>) {
    for cell in cells.iter_mut() {
        cell.suppressed = cell.hidden > 0 && cell.hidden < threshold;
    }
    // Lines: cells equal in everything but one dimension (whose total is one coarser query away).
    let mut lines: Vec<Vec<usize>> = Vec::new();
    for dim in dims.iter().filter(|d| **d != Dimension::Function) {
        let mut by_rest: BTreeMap<(i16, String, Group, Option<String>), Vec<usize>> = BTreeMap::new();
        let mut by_region: BTreeMap<(i16, String, Group, Option<String>), Vec<usize>> = BTreeMap::new();
        for (i, cell) in cells.iter().enumerate() {
            let rest = cell.group.without(*dim);
            by_rest.entry((cell.fiscal_year, cell.metric.clone(), rest.clone(), None)).or_default().push(i);
            if *dim == Dimension::Prefecture
                && let Some(code) = cell.group.prefecture
            {
                by_region.entry((cell.fiscal_year, cell.metric.clone(), rest, region_of(code))).or_default().push(i);
            }
        }
        lines.extend(by_rest.into_values());
        lines.extend(by_region.into_values());
    }
    loop {
        let mut changed = false;
        for line in &lines {
            let hidden_cells = line.iter().filter(|&&i| cells[i].suppressed).count();
            if hidden_cells != 1 {
                continue;
            }
            // The partner: the smallest cell the caller cannot fully see (suppressing a cell it
            // sees whole would protect nothing).
            let partner = line
                .iter()
                .copied()
                .filter(|&i| !cells[i].suppressed && cells[i].hidden > 0)
                .min_by_key(|&i| (cells[i].hidden, cells[i].denominator));
            if let Some(i) = partner {
                cells[i].suppressed = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(band: &str, pref: i16, den: i64, hidden: i64) -> Cell {
        Cell {
            fiscal_year: 2024,
            metric: "bcp_rate".into(),
            group: Group { bed_band: Some(band.into()), prefecture: Some(pref), ..Default::default() },
            numerator: den / 2,
            denominator: den,
            hidden,
            suppressed: false,
        }
    }

    #[test]
    fn a_lone_small_cell_takes_the_next_smallest_with_it() {
        let mut cells = vec![cell("20-99", 13, 3, 3), cell("20-99", 14, 9, 9), cell("20-99", 27, 40, 40)];
        apply(&mut cells, &[Dimension::Prefecture], 5, |_| None);
        let hidden: Vec<bool> = cells.iter().map(|c| c.suppressed).collect();
        assert_eq!(hidden, vec![true, true, false]);
    }

    #[test]
    fn cells_the_caller_sees_whole_are_neither_hidden_nor_partners() {
        // Prefecture 13's own official: its small cell is shown, and the partner of 14's small cell
        // must be 27 (13 is known to the caller, hiding it protects nothing).
        let mut cells = vec![cell("20-99", 13, 2, 0), cell("20-99", 14, 3, 3), cell("20-99", 27, 40, 40)];
        apply(&mut cells, &[Dimension::Prefecture], 5, |_| None);
        let hidden: Vec<bool> = cells.iter().map(|c| c.suppressed).collect();
        assert_eq!(hidden, vec![false, true, true]);
    }

    #[test]
    fn both_directions_of_a_table_are_protected() {
        // 2 × 2: one small cell forces a partner in its row and in its column, and then the
        // fourth so that the partners are not alone either.
        let mut cells = vec![
            cell("20-99", 13, 2, 2),
            cell("20-99", 27, 50, 50),
            cell("500+", 13, 30, 30),
            cell("500+", 27, 60, 60),
        ];
        apply(&mut cells, &[Dimension::BedBand, Dimension::Prefecture], 5, |_| None);
        assert!(cells.iter().all(|c| c.suppressed), "{cells:?}");
    }
}
